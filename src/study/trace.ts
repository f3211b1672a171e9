/**
 * `dptrain report DIR --timeline FILE`: a ws run's steps as a trace in Chrome's trace event format
 * (the JSON that chrome://tracing and ui.perfetto.dev open), as Horovod's timeline writes one: a
 * process per worker, with its forward + backward and each bucket's all-reduce per step, and a
 * process for the steps themselves. Time is training time: the step records' `ms` summed, so
 * validations (and, with --log-every, the steps not logged) are left out; each worker's bars start
 * with its step, since a worker's timeline is measured from the start of its own compute
 * (docs/formats.md) and the coordinator's dispatch to it is not recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { outputFileProblem } from '../io/index.js';
import { ConfigError } from '../errors.js';
import type { StepRecord } from '../train/index.js';

type TraceEvent = Record<string, unknown>;

const us = (ms: number) => Math.round(ms * 1000);

/** The trace events of one step that started at `t0` µs; `pidOf` names each worker's process. */
function stepEvents(r: StepRecord, t0: number, pidOf: (worker: string) => number): TraceEvent[] {
  const events: TraceEvent[] = [{ name: `step ${r.step}`, ph: 'X', pid: 0, tid: 1, ts: t0, dur: us(r.ms), args: { step: r.step, epoch: r.epoch, batchSize: r.batchSize, loss: r.loss } }];
  for (const w of r.timing.buckets ?? []) {
    const pid = pidOf(w.worker);
    events.push({ name: 'forward + backward', ph: 'X', pid, tid: 1, ts: t0, dur: us(w.computeMs), args: { step: r.step } });
    w.buckets.forEach((b, k) => {
      // Successive buckets overlap on the link (a ring starts while the previous all-gather
      // travels): alternate threads, since a trace viewer nests the events of one thread.
      events.push({ name: `bucket ${k} all-reduce`, ph: 'X', pid, tid: 2 + (k % 2), ts: t0 + us(b.startMs), dur: us(b.endMs - b.startMs), args: { step: r.step, bucket: k, readyMs: b.readyMs } });
      events.push({ name: `bucket ${k} final`, ph: 'i', s: 't', pid, tid: 1, ts: t0 + us(b.readyMs), args: { step: r.step, bucket: k } });
    });
  }
  return events;
}

/** Names of the processes and threads, so the viewer labels its rows. */
function metadata(workers: string[]): TraceEvent[] {
  const name = (pid: number, tid: number | null, value: string): TraceEvent =>
    tid === null ? { name: 'process_name', ph: 'M', pid, args: { name: value } } : { name: 'thread_name', ph: 'M', pid, tid, args: { name: value } };
  return [
    name(0, null, 'steps (coordinator)'),
    name(0, 1, 'step'),
    ...workers.flatMap((w, i) => [name(i + 1, null, `worker ${w}`), name(i + 1, 1, 'forward + backward'), name(i + 1, 2, 'all-reduce (buckets 0, 2, …)'), name(i + 1, 3, 'all-reduce (buckets 1, 3, …)')]),
  ];
}

/**
 * Writes DIR's step timeline to `file` (replaced only once complete) and returns how many steps
 * it holds. A run without bucket timings (not a ws run) is a ConfigError, and nothing is written.
 */
export async function writeTimelineTrace(dir: string, file: string): Promise<{ steps: number; workers: string[] }> {
  const metrics = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(metrics)) {
    throw new ConfigError('noTimeline', `${dir} has no metrics.jsonl: --timeline draws the steps of a run — pass the --out directory of \`dptrain coordinator\``);
  }
  const problem = outputFileProblem(file);
  if (problem !== null) throw new ConfigError('badOption', `--timeline ${file}: ${problem}`);
  const folder = path.dirname(path.resolve(file));
  const tmp = path.join(folder, `.${path.basename(file)}.${process.pid}.tmp`);
  const out = fs.createWriteStream(tmp);
  // Held from the start, so that a write error is this function's error, not an unhandled event.
  const finished = new Promise<void>((resolve, reject) => out.once('finish', resolve).once('error', reject));
  finished.catch(() => {});
  const workers: string[] = [];
  /** A worker's process in the trace: 1, 2, … in the order the workers first appear (0 is the steps'). */
  const pidOf = (worker: string) => (workers.indexOf(worker) + 1 || workers.push(worker));
  let steps = 0;
  let t0 = 0;
  let first = true;
  const write = (events: TraceEvent[]) => {
    for (const e of events) out.write(`${first ? '' : ',\n'}${JSON.stringify(e)}`), (first = false);
  };
  try {
    out.write('{"displayTimeUnit":"ms","traceEvents":[\n');
    const lines = readline.createInterface({ input: fs.createReadStream(metrics), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.startsWith('{"type":"step"')) continue;
      let r: StepRecord;
      try {
        r = JSON.parse(line) as StepRecord;
      } catch {
        continue; // a run killed mid-write leaves a partial last line
      }
      if (r.timing.buckets?.length) steps += 1;
      write(stepEvents(r, t0, pidOf));
      t0 += us(r.ms);
    }
    write(metadata(workers));
    out.end('\n]}\n');
    await finished;
    if (steps === 0) {
      throw new ConfigError('noTimeline', `${dir} has no bucket timings in its step records: only runs of \`dptrain coordinator\` (the ws engine) record them — leave out --timeline, or pass the --out directory of a coordinator run`);
    }
    fs.renameSync(tmp, file);
    return { steps, workers };
  } catch (error) {
    out.destroy();
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
