/** `dptrain train`: flags -> config, logging and progress, then the library's train(). */
import path from 'node:path';
import type { RunInfo, StepRecord, TrainConfig, TrainResult } from '../train/index.js';
import { formatLoss, plural } from '../util/index.js';
import type { Logger } from 'pino';
import { createLogger, type LogFormat } from './logger.js';
import { watchRunInterrupts } from './interrupt.js';
import { ProgressBar, formatDuration } from './progress.js';
import type { Command } from 'commander';
import { explicitOptions } from './parse.js';
import { trainConfigFromFlags } from './train-options.js';
import { interactive } from './terminal.js';
import { packageVersion } from './version.js';
import { dashboardFromFlags, withDashboard } from './dashboard-flags.js';

/** `flags`: every option value; `command`, when given, tells which were typed (the others are defaults). */
export async function runTrain(flags: Record<string, unknown>, command?: Command): Promise<TrainResult> {
  const config = trainConfigFromFlags(command ? explicitOptions(command) : flags);
  const { resolveRunConfig, refuseRunIn, train } = await import('../train/index.js');
  const format = flags.logFormat as LogFormat;
  const progress = format === 'pretty' && interactive(process.stderr) ? new ProgressBar(process.stderr) : null;
  const logger = createLogger(format, progress);
  // Something on a terminal at once: loading the data and starting the workers takes a moment.
  progress?.status(`dptrain ${packageVersion()}: loading the data and starting the workers…`);
  // --dashboard listens before the data loads, so that a port in use fails at once; the options
  // are checked before it listens, so that a refused one prints no dashboard URL first.
  if (flags.dashboard !== undefined && flags.dashboard !== false) await refuseUsedOut(await resolveRunConfig(config), refuseRunIn);
  const dashboard = await dashboardFromFlags(flags, 'train', logger);
  const interrupts = watchRunInterrupts(logger, progress);
  const result = await withDashboard(dashboard, () =>
    train(config, {
      logger,
      signal: interrupts.signal,
      callbacks: [
        ...(progress ? [{ onTrainBegin: (info: RunInfo) => progress.begin(info), onStep: (record: StepRecord) => progress.update(record) }] : []),
        ...(dashboard ? [dashboard.callback] : []),
      ],
    }),
  ).finally(() => {
    progress?.end();
    interrupts.dispose();
  });

  logRunEnd(logger, result);
  return result;
}

/** `batch size 64–256 (152 per step on average, 220 at the end)` for an auto run; '' with a fixed batch size. */
function describeBatchSizes(summary: TrainResult['summary']): string {
  const b = summary.batchSizes;
  if (!b) return '';
  const mean = b.mean === null ? '' : `${Math.round(b.mean)} per step on average, `;
  return b.min === b.max ? `batch size ${b.min} throughout (--batch-size auto)` : `batch size ${b.min}–${b.max} (${mean}${b.last} at the end)`;
}

/**
 * An --out that train() will refuse (it holds another run, and neither --overwrite nor --resume
 * is given), refused before the dashboard listens, with train()'s own check (src/train/run-dir.ts).
 */
async function refuseUsedOut({ config, resumed }: { config: TrainConfig; resumed: unknown }, refuseRunIn: (dir: string) => Promise<void>): Promise<void> {
  if (resumed || !config.out || config.overwrite) return;
  await refuseRunIn(config.out);
}

/** The run's last log lines: totals and final metrics, and where the outputs went (train() logged an interrupt's). */
export function logRunEnd(logger: Logger, result: TrainResult): void {
  const { summary } = result;
  if (summary.stopReason === 'interrupted') return;
  // With --restore-best the final parameters are the best epoch's: report that epoch's scores.
  const restored = summary.best?.restored ? result.history.find((r) => r.epoch === summary.best!.epoch) : undefined;
  const scores = restored ?? summary.final;
  const accuracy = scores.valAccuracy ?? scores.trainAccuracy;
  const parts = [
    `${plural(summary.epochs, 'epoch')}, ${plural(summary.steps, 'step')} in ${formatDuration(summary.seconds)}`,
    describeBatchSizes(summary),
    `${Math.round(summary.samplesPerSec).toLocaleString('en-US')} samples/s`,
    scores.valLoss !== null ? `val loss ${formatLoss(scores.valLoss)}` : scores.trainLoss !== null ? `train loss ${formatLoss(scores.trainLoss)}` : '',
    accuracy !== null ? `${scores.valAccuracy !== null ? 'val' : 'train'} accuracy ${(accuracy * 100).toFixed(2)}%` : '',
    restored ? `with the weights of epoch ${restored.epoch + 1} (--restore-best)` : '',
  ].filter(Boolean);
  logger.info({ summary }, `done: ${parts.join(', ')}`);
  if (result.config.out && !result.alreadyFinished) logger.info({ out: result.config.out }, `wrote ${path.join(result.config.out, '{config.json,metrics.jsonl,summary.json,final.safetensors}')}`);
}
