/**
 * `dptrain sweep`: flags -> SweepOptions, one log line per finished run, a progress bar over the
 * whole sweep (only on a terminal), and a results table on stdout at the end.
 * The training flags are train's own (addTrainFlags), less those the sweep sets itself.
 */
import { Command, Option } from 'commander';
import { ConfigError, UsageError } from '../errors.js';
import type { PlannedRun, SweepHooks, SweepOptions, SweepResults } from '../study/index.js';
import { sweepLrRules, SWEEP_DEFAULTS } from '../study/sweep-defaults.js';
import type { RunInfo, StepRecord } from '../train/index.js';
import { createLogger, logFormatOption, type LogFormat } from './logger.js';
import { explicitOptions, parseBatchSize, parseInteger, parseNumber } from './parse.js';
import { ProgressBar, formatDuration } from './progress.js';
import { watchRunInterrupts } from './interrupt.js';
import { addTrainFlags, trainConfigFromFlags } from './train-options.js';
import { interactive } from './terminal.js';
import { addDashboardFlags, dashboardFromFlags, withDashboard } from './dashboard-flags.js';

/** Training options a sweep sets per run, so their train flags are not offered. */
const SET_BY_SWEEP = new Set(['batchSize', 'epochs', 'lrRule', 'out', 'resume', 'overwrite']);

export const sweepHelp = `
What a sweep measures
  For every batch size (and seed, and learning rate under --lr-rule tuned) dptrain trains
  until --target is met at a validation, --max-epochs (or --max-steps) run out, or the loss
  diverges; then it reports the steps, epochs, samples and seconds to the target, fits
  S(B) = S_min + E_min/B (critical batch size B_crit = E_min/S_min) and names each batch
  size's regime: perfect scaling, diminishing returns, maximal data parallelism.
  docs/batch-size.md explains the terms.

  Targets: val_acc=0.95, val_loss=0.3, train_loss=0.1, train_acc=0.99. Validation targets are
  checked at every validation: epoch ends, plus --evals-per-epoch K times per epoch at every B
  (or every --eval-every N steps); training targets (epoch means) at epoch ends.
  B_simple is logged per step when a step has 2 or more gradient slots holding samples
  (--engine threads with 2+ workers, or --reduce-chunks 2+); at B = 1 it is not measurable.
  --lr-rule none: --lr at every B; linear: --lr·B/B0; sqrt: --lr·√(B/B0) (B0 = --base-batch-size);
  tuned: --lr-trials rates a factor --lr-factor apart per batch size, centred between the
  linear and square-root predictions; the rate with the fewest steps to target wins (a tie:
  the rate nearer the middle of the grid, then the smaller); none where no rate reached it.

Examples
  dptrain sweep --batch-sizes 1,4,16,64,256,1024,full --target val_acc=0.95 --max-epochs 20 \
      --evals-per-epoch 10 --out sweeps/mnist
  dptrain sweep --batch-sizes 8,64,full --target train_loss=0.01 --lr-rule tuned --seeds 3 \\
      --dataset 'synthetic:teacher?d=16' --model linreg:16-1 --out sweeps/linreg
  dptrain report sweeps/mnist                      # the HTML report of a sweep
`;

export function registerSweepCommand(program: Command): Command {
  const command = program
    .command('sweep')
    .description('train once per batch size (and seed, and learning rate) and measure steps, epochs and time to a target')
    .option('--batch-sizes <list>', 'global batch sizes, comma-separated; "full" = the whole training split (e.g. 1,4,16,64,256,full)')
    .option('--target <metric=value>', 'val_acc=0.95 | val_loss=V | train_loss=V | train_acc=V, checked at every validation (epoch ends, and --evals-per-epoch / --eval-every)')
    .option('--max-epochs <n>', 'epoch budget of each run (default: 20)')
    .option('--lr-rule <rule>', `learning rate per batch size: ${sweepLrRules.join(' | ')} (default: ${SWEEP_DEFAULTS.lrRule})`)
    .option('--seeds <n>', `runs per configuration, seeds --seed, --seed+1, ... (default: ${SWEEP_DEFAULTS.seeds})`)
    .option('--lr-trials <n>', `tuned: learning rates per batch size (default: ${SWEEP_DEFAULTS.lrTrials})`)
    .option('--lr-factor <f>', `tuned: ratio of neighbouring rates (default: ${SWEEP_DEFAULTS.lrFactor})`)
    .option('--evals-per-epoch <k>', `validate about k times per epoch at every batch size (--eval-every ceil(steps per epoch / k) per run), so steps-to-target is resolved to 1/k epoch; 0 = --eval-every as given (default: ${SWEEP_DEFAULTS.evalsPerEpoch})`)
    .option('--gns-samples <n>', `rows used to measure B_simple at the start and end of each run; 0 = off (default: ${SWEEP_DEFAULTS.gnsSamples})`)
    .addOption(logFormatOption())
    .addHelpText('after', sweepHelp)
    .exitOverride()
    .action(async (options: Record<string, unknown>, command: Command) => void (await runSweep(options, command)));
  // train's flags, less the ones the sweep sets per run (its own --out is the sweep directory).
  for (const option of addTrainFlags(new Command()).options) {
    if (SET_BY_SWEEP.has(option.attributeName())) continue;
    // A sweep runs every batch size at one rate (or its --lr-rule's scaling of it): train's small-batch default does not apply.
    if (option.attributeName() === 'lr') option.description = 'learning rate: the same at every batch size with --lr-rule none; at --base-batch-size when --lr-rule scales it (default: 0.05 for sgd, 0.001 for adam and adamw)';
    command.addOption(option);
  }
  // train's --epochs is the sweep's --max-epochs; say so rather than commander's nearest spelling (--eps).
  command.addOption(new Option('--epochs <n>').hideHelp());
  command.option('--out <dir>', 'the sweep directory: runs/, results.json, results.csv (required; one that holds a sweep is refused without --resume or --overwrite, a `dptrain train` run directory always)');
  command.option('--resume', 'continue the sweep in --out: runs finished with the same settings are read back, the others trained');
  command.option('--overwrite', 'delete the sweep in --out (sweep.json, results.json, results.csv, report.html, runs/), then run this one');
  addDashboardFlags(command, true);
  return command;
}

/**
 * Flags -> SweepOptions; every message names its flag. `command`, when given, tells which flags
 * were typed: only those reach the training options (the others are defaults).
 */
export function sweepOptionsFromFlags(flags: Record<string, unknown>, command?: Command): SweepOptions {
  const typed = command ? explicitOptions(command) : flags;
  const required = (key: string, flag: string, example: string): string => {
    const value = flags[key];
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError('missingOption', `${flag} is required, e.g. ${flag} ${example}`);
    return value;
  };
  const list = required('batchSizes', '--batch-sizes', '1,4,16,64,full');
  const items = list.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new ConfigError('badOption', `--batch-sizes must be a comma-separated list without empty items (got ${JSON.stringify(list)})`);
  const batchSizes = items.map((s) => {
    // Each run of a sweep trains one fixed B; auto's choices are studied run by run.
    if (s.toLowerCase() === 'auto') {
      throw new ConfigError('badOption', '--batch-sizes holds fixed batch sizes, and "auto" chooses B while a run trains — to compare, run dptrain train --batch-size auto --out DIR with the same options and set dptrain report DIR beside the sweep\'s report');
    }
    const b = parseBatchSize('--batch-sizes', s);
    if (b !== 'full' && !(b >= 1)) throw new ConfigError('badOption', `--batch-sizes must hold positive integers or "full" (got ${JSON.stringify(s)})`);
    return b;
  });
  const integer = (key: string, flag: string): number | undefined => (typeof flags[key] === 'string' ? parseInteger(flag, flags[key] as string) : undefined);
  const options: SweepOptions = {
    batchSizes,
    target: required('target', '--target', 'val_acc=0.95'),
    maxEpochs: integer('maxEpochs', '--max-epochs') ?? 20,
    lrRule: (flags.lrRule as SweepOptions['lrRule']) ?? undefined,
    seeds: integer('seeds', '--seeds'),
    out: required('out', '--out', 'sweeps/mnist'),
    lrTrials: integer('lrTrials', '--lr-trials'),
    lrFactor: typeof flags.lrFactor === 'string' ? parseNumber('--lr-factor', flags.lrFactor) : undefined,
    gnsSamples: integer('gnsSamples', '--gns-samples'),
    evalsPerEpoch: integer('evalsPerEpoch', '--evals-per-epoch'),
    resume: flags.resume === true ? true : undefined,
    overwrite: flags.overwrite === true ? true : undefined,
    // The sweep's --lr-rule, --out, --resume and --overwrite are its own; train's flags are read without them.
    train: trainConfigFromFlags(Object.fromEntries(Object.entries(typed).filter(([key]) => !SET_BY_SWEEP.has(key)))),
  };
  return options;
}

export async function runSweep(flags: Record<string, unknown>, command?: Command): Promise<SweepResults> {
  if (flags.epochs !== undefined) throw new UsageError('unknownOption', `dptrain sweep has no --epochs: each run's epoch budget is --max-epochs N (default 20) — see dptrain sweep --help`);
  const options = sweepOptionsFromFlags(flags, command);
  const [{ sweep, resolveSweepOptions }, { claimSweepDir }] = await Promise.all([import('../study/index.js'), import('../study/sweep-files.js')]);
  const format = flags.logFormat as LogFormat;
  const progress = format === 'pretty' && interactive(process.stderr) ? new SweepProgress(process.stderr) : null;
  const logger = createLogger(format, progress);
  // --dashboard listens before the data loads, so that a port in use fails at once; the sweep's
  // options and its --out are checked before it listens, so that a refused one prints no URL first
  // (claimSweepDir only reads without --resume and --overwrite; sweep() claims the directory itself).
  if (flags.dashboard !== undefined && flags.dashboard !== false) {
    const resolved = resolveSweepOptions(options);
    if (!resolved.resume && !resolved.overwrite) await claimSweepDir(resolved, logger);
  }
  const dashboard = await dashboardFromFlags(flags, 'sweep', logger);
  const interrupts = watchRunInterrupts(logger, progress, 'the current step of the run in progress');
  const hooks: SweepHooks = {
    logger,
    signal: interrupts.signal,
    onPlan: (runs) => progress?.plan(runs.length),
    onRunStart: (run, index) => progress?.startRun(run, index),
    onStep: (record, _run, info) => progress?.step(record, info),
    onRunEnd: (_outcome, index) => progress?.endRun(index),
  };
  const results = await withDashboard(dashboard, () => sweep(options, dashboard ? dashboard.sweepHooks(hooks) : hooks)).finally(() => {
    progress?.end();
    interrupts.dispose();
  });
  process.stdout.write(resultsTable(results));
  logger.info({ out: options.out }, `wrote ${options.out}/results.json and results.csv — \`dptrain report ${options.out}\` draws the plots`);
  return results;
}

/** The per-batch-size results as an aligned text table. */
export function resultsTable(results: SweepResults): string {
  const f = (v: number | null, digits = 4) => (v === null || !Number.isFinite(v) ? '-' : String(Number(v.toPrecision(digits))));
  const rows = [
    ['B', 'lr', 'steps', 'epochs', 'samples', 'seconds', 'val_loss', 'val_acc', 'samples/s', 'B_simple', 'regime'],
    ...results.batchSizes.map((r) => [
      r.batchSize === 'full' ? `full(${r.resolvedBatchSize})` : String(r.batchSize),
      f(r.lr),
      r.reached ? String(r.stepsToTarget) : r.outcome,
      r.reached ? f(r.epochsToTarget) : '-',
      r.reached ? String(r.samplesToTarget) : '-',
      r.reached ? f(r.secondsToTarget, 3) : '-',
      f(r.final.valLoss),
      f(r.final.valAccuracy),
      f(r.samplesPerSec, 3),
      r.gnsSlots < 2 ? 'not measurable' : f(r.bSimpleLogged, 3),
      r.regime ?? '-',
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padStart(widths[c]))).join('  '));
  const fit = results.fit;
  const fitLine = fit
    ? `fit: S_min ${f(fit.sMin)} steps, E_min ${f(fit.eMin)} samples, B_crit ${fit.bCrit === null ? 'beyond the largest B' : f(fit.bCrit)}`
    : `fit: none (${results.fitNote})`;
  const gns = results.runs.length === 0
    ? 'B_simple: not measured (no run finished)'
    : results.gns
      ? `B_simple: logged along the runs by the ${results.gns.engine} engine, ${results.gns.workers} worker(s), --reduce-chunks ${results.gns.reduceChunks}; shown at the target, or at the end where not reached`
      : 'B_simple: not logged along the runs (one gradient slot per step)';
  // targetCheck's first clause says where the target is checked, in plain words.
  const where = results.targetCheck.split(';')[0];
  return `\nsteps to ${results.target.text} (the target is checked ${where})\n${lines.join('\n')}\n${fitLine}\n${gns}\n`;
}

/**
 * The sweep's progress bar: runs done out of all, the current run's epoch and step. It extends
 * the train bar only so that the shared logger can clear and redraw it around log lines.
 */
class SweepProgress extends ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  #total = 0;
  #done = 0;
  #run: PlannedRun | null = null;
  #line = '';
  #lastDraw = 0;
  #started = performance.now();

  constructor(out: NodeJS.WriteStream) {
    super(out);
    this.#stream = out;
  }

  plan(total: number): void {
    this.#total = total;
  }

  startRun(run: PlannedRun, index: number): void {
    this.#run = run;
    this.#done = index;
    this.#render(0, '');
  }

  step(record: StepRecord, info: RunInfo): void {
    const now = performance.now();
    if (now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const within = Math.min(1, (record.step + 1) / info.totalSteps);
    this.#render(within, `epoch ${record.epoch + 1}/${info.epochs} step ${record.step - record.epoch * info.stepsPerEpoch + 1}/${info.stepsPerEpoch} loss ${record.loss.toPrecision(4)}`);
  }

  endRun(index: number): void {
    this.#done = index + 1;
    this.#render(0, '');
  }

  #render(within: number, detail: string): void {
    if (this.#total === 0) return;
    const width = 24;
    const done = (this.#done + within) / this.#total;
    const filled = Math.round(done * width);
    const run = this.#run ? `${this.#run.id}` : '';
    const elapsed = formatDuration((performance.now() - this.#started) / 1000);
    this.#line = `sweep [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} runs  ${elapsed}  ${run} ${detail}`;
    this.redraw();
  }

  override clear(): void {
    if (this.#line) this.#stream.write('\r\x1b[2K');
  }

  override redraw(): void {
    if (!this.#line) return;
    const columns = this.#stream.columns || 100;
    this.#stream.write('\r\x1b[2K' + this.#line.slice(0, Math.max(10, columns - 1)));
  }

  override end(): void {
    this.clear();
    this.#line = '';
    this.#total = 0; // no more drawing (after Ctrl-C, the run's last step still reports)
  }
}
