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
  return startDashboard({ address: address as string | true, tokenFile: flags.tokenFile as string | undefined, kind, log });
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
