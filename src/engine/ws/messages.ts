/**
 * The ws engine's messages (docs/protocol.md §6 "Engine messages"). Two sets, one per kind of
 * connection, so a message can only arrive where it makes sense:
 *   coordinatorMessages  coordinator <-> worker (setup, state sync, steps, results, updates)
 *   peerMessages         worker -> its ring successor (the ring all-reduce's pieces)
 * The transport checks every decoded message against these schemas before the engine sees it.
 * Lengths known only at run time are dimensions: `params` (the parameter count) and
 * `dataChunk` (floats per shipped-data chunk), set on both sides once the model is known.
 */
import { defineMessages, f, type MessagesOf } from '../../transport/index.js';

/**
 * Revision of the messages below, stated by both sides in the handshake's meta (`engine`): the
 * transport's PROTOCOL_VERSION covers framing and the handshake, this the engine's messages, so
 * a worker and a coordinator of different builds are refused with a reason instead of failing
 * at the first message one of them does not know. 1: issue 5. 2: `skip` (issue 6). 3: BatchNorm
 * exchanges (`batchnorm` in setup, `bnPartial`, `bnTotal`; issue 14). 4: gradient buckets sent as
 * `part`s, `--compress` (issue 20). 5: `--coordinator-replica on-demand` (`fetchState`, a ring
 * report of `norm`, `reducedSumSq`; issue 20). 6: buckets cut inside a weight at row boundaries,
 * its gradient computed in row blocks (the blocks change a product's last bits, so both sides must
 * cut alike); a bucket's ring starts while the previous bucket's all-gather is on the wire, its
 * pieces marked with `bucket`.
 */
export const ENGINE_REVISION = 6;

const step = f.integer({ min: 0 });
const attempt = f.integer({ min: 1 });
const version = f.integer({ min: 0 });
const count = f.integer({ min: 0 });
const ms = f.number({ min: 0 });
const name = f.string({ minLength: 1, maxLength: 64 });
/** sha256 as 64 lowercase hex digits. */
const hex64 = f.string({ minLength: 64, maxLength: 64, pattern: /^[0-9a-f]{64}$/ });
const hash = f.string({ maxLength: 80, pattern: /^sha256:[0-9a-f]{64}$/ });
const reason = f.string({ maxLength: 1000 });
const algorithm = f.enum(['star', 'ring']);
/** 16-bit values (fp16 or bf16 bit patterns, little-endian), at most one 64 MiB frame. */
const packed = f.bytes({ maxLength: 1 << 26 });
const range = f.object({ start: count, end: count });

/** When a worker's buckets became final and were all-reduced, ms from the start of its compute (forward + backward). */
const timeline = f.object({
  /** The end of backward: the whole local gradient reduced over this host's threads. */
  computeMs: ms,
  buckets: f.array(f.object({ readyMs: ms, startMs: ms, endMs: ms }), { maxLength: 65_536 }),
});

/** A worker's sums over its shard; `nonFinite` stands in for NaN/Infinity, which msgpack numbers may not carry here. */
const shardSums = {
  lossSum: f.number(),
  correct: count,
  count,
  /** |shard gradient sum|² (the gradient noise scale's per-shard term). */
  gradSumSq: f.number({ min: 0 }),
  /** True when the loss or gradient norm was NaN or infinite (the numbers above are then 0). */
  nonFinite: f.boolean(),
  computeMs: ms,
};

const coordinatorSchemas = {
  // ---- coordinator -> worker -------------------------------------------------------------
  /** First message after the handshake: everything a worker needs to rebuild the run's data and model. */
  setup: {
    model: f.string({ maxLength: 4000 }),
    numParams: f.integer({ min: 1 }),
    /** The dataset spec, loaded by the worker itself (unless `shipData`). */
    dataset: f.string({ maxLength: 1000 }),
    /** datasetHash() of the whole loaded dataset, before the split. */
    datasetHash: hash,
    /** datasetHash() of the training split after standardization: proves the worker's preparation. */
    trainHash: hash,
    valSplit: f.number({ min: 0, max: 1 }),
    standardize: f.boolean(),
    seed: f.integer({ min: 0, max: 0xffffffff }),
    optimizer: f.object({
      name: f.enum(['sgd', 'adam', 'adamw']),
      momentum: f.number({ min: 0, max: 1 }),
      nesterov: f.boolean(),
      weightDecay: f.number({ min: 0 }),
      beta1: f.number({ min: 0, max: 1 }),
      beta2: f.number({ min: 0, max: 1 }),
      eps: f.number({ min: 0 }),
    }),
    /** 0 = the model's default. */
    microBatch: f.integer({ min: 0 }),
    /** The kernel set the coordinator resolved; every replica uses the same. */
    kernels: f.enum(['js', 'wasm', 'blas']),
    /** 0 = one gradient slot per worker; k = k fixed chunks reduced in chunk order (star only). */
    chunks: f.integer({ min: 0, max: 65_536 }),
    /** Whether the worker must listen for a ring predecessor (ring or auto). */
    ring: f.boolean(),
    /** The largest ring piece, in floats. */
    ringChunkFloats: f.integer({ min: 1 }),
    /** Gradient buckets in backward order (ranges of the flat gradient; engine/buckets.ts). */
    buckets: f.array(range, { maxLength: 65_536 }),
    /** Start a bucket's all-reduce as soon as backward has finished it (else after the whole backward). */
    overlap: f.boolean(),
    /** Gradients on the wire: float32, or 16-bit floats added in float32. */
    compress: f.enum(['none', 'fp16', 'bf16']),
    /** Keep each worker's rounding residual and add it to its next gradient. */
    compressFeedback: f.boolean(),
    /** How BatchNorm layers normalize (--batchnorm: local, sync, ghost:G); absent = sync. */
    batchnorm: f.optional(f.string({ maxLength: 32, pattern: /^(local|sync|ghost:[0-9]{1,9})$/ })),
    /** Present with --ship-data: the dataset follows in `dataChunk` messages. */
    shipped: f.optional(
      f.object({
        n: count,
        inputDim: f.integer({ min: 1 }),
        targetDim: f.integer({ min: 1 }),
        task: f.enum(['classification', 'regression']),
        numClasses: count,
        spec: f.string({ maxLength: 1000 }),
      }),
    ),
  },
  /** With --ship-data: a piece of the dataset's x or y, in order, at most `dataChunk` floats. */
  dataChunk: { array: f.enum(['x', 'y']), offset: count, values: f.float32({ maxLength: 'dataChunk' }) },
  /**
   * Joining: the current parameters (version = updates applied so far). Precedes the worker's
   * first step. Also a worker's answer to `fetchState`.
   */
  state: { version, params: f.float32('params') },
  /** Joining: one optimizer state tensor (PyTorch name), after `state` (either direction, as `state`). */
  optimizerState: { name: f.string({ maxLength: 64, pattern: /^[a-z_]+$/ }), values: f.float32('params') },
  /**
   * Compute your shard: rows [start, end) of epoch `epoch`'s permutation, with parameters of
   * `version`. A higher `attempt` of the same step replaces the previous one (membership changed).
   */
  step: {
    epoch: count,
    step,
    attempt,
    version,
    start: count,
    end: count,
    algorithm,
    /** Star with --reduce-chunks: this worker's fixed chunks, `first` being the first one's index, rows in chunk order. */
    chunks: f.optional(f.object({ first: count, rows: f.array(f.object({ start: count, end: count }), { maxLength: 65_536 }) })),
    /** Ring: this worker's place and its neighbours for this attempt. */
    ring: f.optional(
      f.object({
        rank: count,
        size: f.integer({ min: 1 }),
        /** Parameter ranges [start, end) owned by each rank, in rank order. */
        segments: f.array(f.object({ start: count, end: count }), { maxLength: 65_536 }),
        nextName: name,
        nextUrl: f.string({ maxLength: 300 }),
        prevName: name,
        /**
         * What it sends the coordinator of each reduced bucket: its finished segment, the whole
         * bucket (it shares the coordinator's host; --reduced-from), nothing, or only the reduced
         * gradient's norm in `ringResult` (--coordinator-replica on-demand). Absent = segment.
         */
        report: f.optional(f.enum(['segment', 'bucket', 'none', 'norm'])),
      }),
    ),
  },
  /**
   * Apply the step's update; `version` is the version after it. Star carries the reduced
   * gradient sum; ring workers hold it already. `hash` asks for a `hash` reply.
   */
  update: {
    step,
    version,
    lr: f.number(),
    gradScale: f.number(),
    t: f.integer({ min: 1 }),
    hash: f.boolean(),
    gradient: f.optional(f.float32('params')),
    /** Star with --compress: the reduced gradient sum as 16-bit values. */
    packed: f.optional(packed),
  },
  /**
   * Drop step `step` instead of applying it (its loss or gradient was non-finite and the run
   * has --on-nonfinite skip): keep the parameters and optimizer state of `version`, which
   * stays the version of the next step. Engine revision 2 (docs/protocol.md §6.1).
   */
  skip: { step, version },
  /** The sums over every slot of BatchNorm exchange `index` of this step (docs/protocol.md §6). */
  bnTotal: { step, attempt, index: count, values: f.array(f.number(), { maxLength: 1 << 20 }) },
  /**
   * --coordinator-replica on-demand: send your parameters of `version` (`state`) and every
   * optimizer state tensor (`optimizerState`), between steps.
   */
  fetchState: { version },
  /** The ring stalled past the deadline: are you alive? (Answered with `probeReply` at once, even mid-step.) */
  probe: { step, attempt },
  /** The run is over (or the worker is dismissed); the connection closes after it. */
  done: { reason },

  // ---- worker -> coordinator -------------------------------------------------------------
  /** The worker holds the data and a local engine; its proofs of the same data and model. */
  ready: {
    datasetHash: hash,
    trainHash: hash,
    numParams: f.integer({ min: 1 }),
    kernels: f.enum(['js', 'wasm', 'blas']),
    /** The port of its ring listener (ring or auto). */
    ringPort: f.optional(f.integer({ min: 1, max: 65_535 })),
  },
  /** Star: the worker's shard sums, after its gradient sum went bucket by bucket in `part`s. */
  grad: { step, attempt, ...shardSums, timeline: f.optional(timeline) },
  /**
   * One bucket's values, in bucket order, before the step's `grad` or `ringResult`: star, the
   * bucket of the shard's gradient sum; ring, this worker's reduced segment of the bucket.
   * `values` as float32, or `packed` as 16-bit floats with --compress.
   */
  part: { step, attempt, offset: count, values: f.optional(f.float32({ maxLength: 'params' })), packed: f.optional(packed) },
  /** Star with --reduce-chunks: one fixed chunk's gradient sum (count/loss of that chunk). */
  chunkGrad: { step, attempt, chunk: count, ...shardSums, gradient: f.float32('params') },
  /** A BatchNorm exchange: this worker's slots' partial sums, concatenated in slot order. */
  bnPartial: { step, attempt, index: count, values: f.array(f.number(), { maxLength: 1 << 20 }) },
  /** Ring: the local shard is computed (lets the coordinator tell a slow compute from a stalled ring). */
  computed: { step, attempt, computeMs: ms },
  /**
   * Ring: the worker's shard sums, after its reduced segments went as `part`s. With the report
   * `norm`: |reduced gradient|², per ring segment of each bucket added in order (ring-norm.ts);
   * absent when it is not finite (`nonFinite` is then true).
   */
  ringResult: { step, attempt, ...shardSums, timeline: f.optional(timeline), reducedSumSq: f.optional(f.number({ min: 0 })) },
  /** Ring: the link from `peer` (the predecessor) failed during this attempt. */
  ringFailed: { step, attempt, peer: name, reason },
  /** The answer to `probe`: this worker's process is alive (its ring may still be stuck on a neighbour). */
  probeReply: { step, attempt },
  /** sha256 of the worker's parameter bytes after the update to `version`. */
  hash: { version, digest: hex64 },
  /** The worker leaves at the next step boundary (Ctrl-C). */
  leave: { reason },
} as const;

const peerSchemas = {
  /**
   * One piece of the ring all-reduce: `round` 0..n-2 is the reduce-scatter (add into the
   * segment), n-1..2n-3 the all-gather (copy); `bucket` is the gradient bucket whose ring it
   * belongs to (two buckets' rings share the link: ring-demux.ts); `offset` is the parameter index
   * of values[0].
   */
  ring: { step, attempt, bucket: count, round: count, offset: count, values: f.float32({ maxLength: 'params' }) },
  /** The same piece as 16-bit floats (--compress): `values.length / 2` of them. */
  ring16: { step, attempt, bucket: count, round: count, offset: count, packed },
} as const;

export const coordinatorMessages = defineMessages(coordinatorSchemas);
export const peerMessages = defineMessages(peerSchemas);

export type CoordinatorMessage = MessagesOf<typeof coordinatorSchemas>;
export type PeerMessage = MessagesOf<typeof peerSchemas>;
export type MessageOf<T extends CoordinatorMessage['type']> = Extract<CoordinatorMessage, { type: T }>;
export type SetupMessage = MessageOf<'setup'>;
export type StepMessage = MessageOf<'step'>;
export type ShardSums = Pick<MessageOf<'grad'>, keyof typeof shardSums>;
