/**
 * `--dashboard [HOST:]PORT` on train, coordinator and sweep (and `--token-file` where the
 * command has none). The dashboard's module is imported only when the flag is given, so a run
 * without it builds nothing for it (docs/dashboard.md, "Cost").
 */
import type { Command } from 'commander';
import type { Dashboard, DashboardOptions } from '../dashboard/index.js';

export function addDashboardFlags(command: Command, withTokenFile: boolean): Command {
  command.option('--dashboard [host:port]', 'serve a live dashboard of the run in a browser (docs/dashboard.md); alone: 127.0.0.1 and a free port, its URL printed at start; a non-loopback host needs --token-file');
  if (withTokenFile) command.option('--token-file <file>', 'shared secret file (chmod 600; `dptrain token --out FILE` makes one): required by --dashboard on a non-loopback address');
  return command;
}

/**
 * The dashboard when --dashboard was given (listening already), else null. Where --token-file is
 * the dashboard's alone (train, sweep), giving it without --dashboard is warned about, as any
 * option without effect is (docs/cli.md).
 */
export async function dashboardFromFlags(flags: Record<string, unknown>, kind: DashboardOptions['kind'], log: DashboardOptions['log'] & { warn(fields: object, message: string): void }): Promise<Dashboard | null> {
  const address = flags.dashboard;
  if (address === undefined || address === false) {
    if (kind !== 'coordinator' && flags.tokenFile !== undefined) log.warn({ option: 'tokenFile' }, `--token-file ${String(flags.tokenFile)} has no effect and is ignored: it guards --dashboard, which is not given`);
    return null;
  }
  const { startDashboard } = await import('../dashboard/index.js');
  return startDashboard({
    address: address as string | true,
    tokenFile: flags.tokenFile as string | undefined,
    kind,
    log,
    out: typeof flags.out === 'string' ? flags.out : undefined,
    adaptiveBatch: flags.batchSize === 'auto',
    ...(kind === 'coordinator' && (await waitingHeader(flags))),
  });
}

/**
 * A coordinator's header while it waits for workers (the run's own facts come when it starts):
 * what it will train and where workers connect, from the options given (a resumed run's from its record).
 */
async function waitingHeader(flags: Record<string, unknown>): Promise<{ facts: [string, string][]; message: string }> {
  const [{ wsDefaults }, { defaultTrainConfig }] = await Promise.all([import('../engine/index.js'), import('../train/index.js')]);
  const resumed = flags.resume !== undefined ? ' (or as the resumed run recorded)' : '';
  const given = (key: string): string | undefined => (typeof flags[key] === 'string' ? (flags[key] as string) : undefined);
  const listen = given('listen') ?? wsDefaults.listen;
  const minWorkers = Number(given('minWorkers') ?? 1);
  return {
    facts: [
      ['model', `${given('model') ?? 'the default for the data'}${resumed}`],
      ['dataset', `${given('dataset') ?? defaultTrainConfig.dataset}${resumed}`],
      ['listening', listen.endsWith(':0') ? `${listen.slice(0, -2)}, a free port (the log's \`coordinator at ws://…\` line names it)` : `ws://${listen}/ (dptrain worker --connect ${listen})`],
    ],
    message: `waiting for workers: ${minWorkers} needed (--min-workers) before the first step`,
  };
}

/** Runs `work` with the dashboard told when it fails, and closed at the end either way. */
export async function withDashboard<T>(dashboard: Dashboard | null, work: () => Promise<T>): Promise<T> {
  if (!dashboard) return work();
  try {
    return await work();
  } catch (error) {
    dashboard.fail((error as Error)?.message ?? String(error));
    throw error;
  } finally {
    await dashboard.close();
  }
}
