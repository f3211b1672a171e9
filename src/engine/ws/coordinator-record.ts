/**
 * `dptrain coordinator`'s own options as a run records them (config.json's and each checkpoint's
 * `coordinator`, docs/formats.md), and how `--resume DIR` takes them back, as train's options
 * (src/train/resume.ts): an option not given again takes its recorded value; `--compress` and
 * `--compress-feedback` given with another value are refused (they change the results beyond
 * float rounding); `--allreduce`, `--bucket-mb` and `--first-bucket-mb` are allowed with a warning
 * (they change the order of adds: float rounding, docs/architecture.md "Fixed order"); the others
 * (the same bits, or operational) take the value given.
 */
import { shown } from '../../errors.js';
import { defaultLimits } from '../../transport/limits.js';
import { flagOf } from '../../util/flag-name.js';
import { wsDefaults, type AllreduceChoice, type Compress, type CoordinatorReplica, type ReducedFrom } from './options.js';

/** The options by their flags' names (`minWorkers` is --min-workers), in the flags' units. */
export interface CoordinatorRecord {
  listen: string;
  minWorkers: number;
  allreduce: AllreduceChoice;
  /** The path as given, or null; the secret itself is never recorded. */
  tokenFile: string | null;
  shipData: boolean;
  hashEvery: number;
  /** ms. */
  stepDeadlineFloor: number;
  /** Seconds. */
  rejoinTimeout: number;
  /** Seconds of silence before a worker's connection is ended (the transport heartbeat). */
  heartbeatTimeout: number;
  bucketMb: number;
  /** null: the default, which follows --compress and --bucket-mb. */
  firstBucketMb: number | null;
  reducedFrom: ReducedFrom;
  coordinatorReplica: CoordinatorReplica;
  overlap: 'on' | 'off';
  compress: Compress;
  compressFeedback: boolean;
}

export const coordinatorDefaults: Readonly<CoordinatorRecord> = Object.freeze({
  listen: wsDefaults.listen,
  minWorkers: 1,
  allreduce: 'auto',
  tokenFile: null,
  shipData: false,
  hashEvery: wsDefaults.hashEvery,
  stepDeadlineFloor: wsDefaults.deadlineFloorMs,
  rejoinTimeout: wsDefaults.rejoinTimeoutMs / 1000,
  heartbeatTimeout: defaultLimits.heartbeatTimeoutMs / 1000,
  bucketMb: wsDefaults.bucketBytes / 2 ** 20,
  firstBucketMb: null,
  reducedFrom: 'local',
  coordinatorReplica: 'full',
  overlap: 'on',
  compress: 'none',
  compressFeedback: false,
});

type Key = keyof CoordinatorRecord;

/** Changes the results beyond float rounding: a resume that gives another value is refused. */
const RESULT_KEYS: readonly Key[] = ['compress', 'compressFeedback'];
/** Changes the order of adds only: allowed, with a warning that bit-identity is lost. */
const ROUNDING_KEYS: readonly Key[] = ['allreduce', 'bucketMb', 'firstBucketMb'];

const oneOf = (...values: unknown[]) => (v: unknown) => values.includes(v);
const integerFrom = (min: number) => (v: unknown) => Number.isSafeInteger(v) && (v as number) >= min;
const between = (min: number, max: number) => (v: unknown) => typeof v === 'number' && v >= min && v <= max;

/** What a recorded value must be to be taken back (a record is JSON from a file). */
const VALID: { [K in Key]: (v: unknown) => boolean } = {
  listen: (v) => typeof v === 'string' && v !== '',
  minWorkers: integerFrom(1),
  allreduce: oneOf('star', 'ring', 'auto'),
  tokenFile: (v) => v === null || (typeof v === 'string' && v !== ''),
  shipData: oneOf(true, false),
  hashEvery: integerFrom(0),
  stepDeadlineFloor: integerFrom(1),
  rejoinTimeout: between(0, 86_400),
  heartbeatTimeout: between(1, 3_600),
  bucketMb: between(0, 1024),
  firstBucketMb: (v) => v === null || (typeof v === 'number' && v > 0 && v <= 1024),
  reducedFrom: oneOf('local', 'all'),
  coordinatorReplica: oneOf('full', 'on-demand'),
  overlap: oneOf('on', 'off'),
  compress: oneOf('none', 'fp16', 'bf16'),
  compressFeedback: oneOf(true, false),
};

/**
 * The coordinator options a checkpoint's config records (its `coordinator`), each checked; null
 * when it records none (a checkpoint written before dptrain recorded them, or by `dptrain train`).
 */
export function recordedCoordinatorOptions(config: Readonly<Record<string, unknown>>): Partial<CoordinatorRecord> | null {
  const record = config.coordinator;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return null;
  const fields = record as Record<string, unknown>;
  const taken: Record<string, unknown> = {};
  for (const key of Object.keys(VALID) as Key[]) {
    if (Object.hasOwn(fields, key) && VALID[key](fields[key])) taken[key] = fields[key];
  }
  return taken as Partial<CoordinatorRecord>;
}

/** A typed option that differs from the record where only float rounding changes. */
export interface RoundingChange {
  flag: string;
  recorded: unknown;
  now: unknown;
}

export interface ResumedCoordinatorOptions {
  options: CoordinatorRecord;
  /** Options not typed whose recorded value is not the default, as flags: `--compress bf16`. */
  restored: string[];
  /** Typed options that differ from the record where the results do: `--compress: the checkpoint used "bf16", this run "none"`. */
  problems: string[];
  rounding: RoundingChange[];
}

/**
 * The options of a run given `typed` (the options typed now, parsed) and, resumed, the run's
 * `recorded` options (null: it recorded none, so the defaults stand in for them).
 */
export function resolveCoordinatorOptions(typed: Partial<CoordinatorRecord>, recorded: Partial<CoordinatorRecord> | null): ResumedCoordinatorOptions {
  const options = { ...coordinatorDefaults, ...recorded, ...typed } as CoordinatorRecord;
  const result: ResumedCoordinatorOptions = { options, restored: [], problems: [], rounding: [] };
  if (recorded === null) return result;
  const then = { ...coordinatorDefaults, ...recorded } as CoordinatorRecord;
  for (const key of Object.keys(coordinatorDefaults) as Key[]) {
    if (!Object.hasOwn(typed, key)) {
      if (options[key] !== coordinatorDefaults[key]) result.restored.push(asFlag(key, options[key]));
      continue;
    }
    const [was, now] = key === 'firstBucketMb' ? [firstBucketMbOf(then), firstBucketMbOf(options)] : [then[key], options[key]];
    if (was === now) continue;
    if (RESULT_KEYS.includes(key)) result.problems.push(`${flagOf(key)}: the checkpoint used ${shown(was)}, this run ${shown(now)}`);
    else if (ROUNDING_KEYS.includes(key)) result.rounding.push({ flag: flagOf(key), recorded: was, now });
  }
  return result;
}

/** The first bucket's least size a run used: --first-bucket-mb, or its default (1 MiB; with --compress, --bucket-mb). */
function firstBucketMbOf(r: CoordinatorRecord): number {
  return r.firstBucketMb ?? (r.compress === 'none' ? wsDefaults.firstBucketBytes / 2 ** 20 : r.bucketMb);
}


/** `--compress bf16`, `--ship-data` (a switch: on). */
function asFlag(key: Key, value: unknown): string {
  return value === true ? flagOf(key) : `${flagOf(key)} ${value}`;
}
