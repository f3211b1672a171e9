/**
 * The namespace lab (cluster/lab) as a test process uses it: its own namespace prefix, and itself
 * recorded as the lab's owner (DPTRAIN_LAB_OWNER), so that the lab's reaper removes the lab as
 * soon as this process ends, however it ends (Ctrl-C during `npm test`, the runner's SIGTERM,
 * SIGKILL); labs whose owner and reaper are both gone are pruned when the next run starts.
 * Issue 12 item 10; docs/cluster.md, "The namespace lab".
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './helpers.js';

export const labPath = path.join(repoRoot, 'cluster', 'lab');

export interface LabResult {
  status: number | null;
  out: string;
}

/** Runs `cluster/lab ARGS` with `env`, to completion. */
export function labSync(env: NodeJS.ProcessEnv, args: string[], timeout = 20_000): LabResult {
  const r = spawnSync(labPath, args, { cwd: repoRoot, env, encoding: 'utf8', timeout });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * Removes the labs whose prefix matches `match` (an extended regex) and whose owning process and
 * reaper have ended, with their leftover probe namespaces. Each test file prunes only its own kind
 * of prefix, so that files running at once do not prune each other's deliberately dead labs.
 */
export function pruneStaleLabs(match: string): LabResult {
  return labSync(process.env, ['prune', match]);
}

/**
 * The environment of this process's lab, named `prefix` (e.g. `dpt${process.pid}`: 1-12
 * lowercase letters and digits) and owned by this process.
 */
export function ownedLabEnv(prefix: string): NodeJS.ProcessEnv {
  return { ...process.env, DPTRAIN_LAB_PREFIX: prefix, DPTRAIN_LAB_OWNER: String(process.pid) };
}
