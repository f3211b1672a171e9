/**
 * A thread of the threads engine's piscina pool. It maps the shared buffers once (workerData)
 * and then runs plans: [apply the previous step's update to its range, barrier,] compute a
 * shard's gradient sum into its slot, barrier, reduce a parameter range over all slots; or update
 * a parameter range; or evaluate rows of the validation set.
 */
import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { reduceSlotsRange, WasmCollective } from '../collective/index.js';
import { arriveAndWait, BarrierAborted, COMPUTED, exchangeBarrier, UPDATED } from './barrier.js';
import { runLockstep } from './lockstep.js';
import { Model, parseModelSpec } from '../model/index.js';
import { loadKernels } from '../kernels/index.js';
import { VersionedOptimizer, WasmUpdateKernels } from '../optim/index.js';
import type {
  EvaluateResult,
  EvaluateTask,
  StepResult,
  StepAborted,
  StepTask,
  UpdateResult,
  UpdateTask,
  WorkerSetup,
  WorkerTask,
} from './messages.js';
import { viewsOf } from './shared-memory.js';
import { bucketArrivals } from './buckets.js';

const setup = Piscina.workerData as WorkerSetup;
// Each thread loads its own kernel instance once (wasm memory is per thread); with blas this also
// sets the library to one thread per call, before any product (the main thread already has).
const kernels = await loadKernels(setup.kernels, { blasLibrary: setup.blasLibrary });
/** A Model of the run's spec, its weight gradients cut at the buckets' starts (every step path alike). */
function newModel(): Model {
  const m = new Model(parseModelSpec(setup.model), { kernels, batchNorm: setup.batchNorm });
  if (setup.gradientCuts) m.setGradientCuts(setup.gradientCuts);
  return m;
}
const model = newModel();
/** With BatchNorm: a Model per slot this thread computes in one task (they run in lockstep), model first. */
const slotModels: Model[] = [model];
const P = setup.numParams;
const { layout } = setup;
const buffer = (setup.memory ? setup.memory.buffer : setup.buffer) as SharedArrayBuffer;
const views = viewsOf(buffer, layout);
const slot = (index: number) => views.slots.subarray(index * P, (index + 1) * P);

/** This thread's instance of the collective kernels over the shared memory (null: the JS path). */
const wasm = setup.memory && setup.collectiveModule ? new WasmCollective(setup.collectiveModule, setup.memory) : null;
/** The optimizer over both shared parameter and state versions, with the wasm update where it runs. */
const optimizer = new VersionedOptimizer(
  setup.optimizer,
  views,
  setup.memory && setup.collectiveModule ? new WasmUpdateKernels(setup.collectiveModule, setup.memory) : null,
);
/** Worker w's reduce scratch (tasks, not threads, own it: a thread may run any worker's task). */
const scratchOf = (worker: number) => ({ offset: layout.scratch + worker * layout.scratchBytes, bytes: layout.scratchBytes });

export default function run(task: WorkerTask): StepResult | StepAborted | UpdateResult | EvaluateResult {
  switch (task.kind) {
    case 'step':
      try {
        return step(task);
      } catch (error) {
        if (error instanceof BarrierAborted) return { aborted: error.round };
        throw error;
      }
    case 'update':
      return update(task);
    case 'evaluate':
      return evaluate(task);
  }
}

/** [Update this worker's range, barrier,] compute this worker's slots, barrier, reduce-scatter this worker's range. */
function step(task: StepTask): StepResult {
  let updateMs = 0;
  if (task.update) {
    const t0 = performance.now();
    const u = task.update;
    optimizer.update(u.version, views.reduced, { lr: u.lr, gradScale: u.gradScale, t: u.t, start: task.reduceStart, end: task.reduceEnd });
    updateMs = performance.now() - t0;
    arriveAndWait(setup.control, setup.workers, task.round, UPDATED);
  }
  const started = performance.now();
  const params = views.params[task.version % 2];
  let sums: StepResult['slots'] = [];
  const training = { seed: setup.seed, step: task.step };
  if (setup.buckets && !task.fault && model.numBuffers === 0) return bucketStep(task, params, training, updateMs, started);
  if (model.numBuffers > 0) sums = batchNormSlots(task, params, training);
  else task.slots.forEach((rowsOfSlot, i) => {
    const grad = slot(task.firstSlot + i);
    // A native memset where the wasm path runs: TypedArray.fill on shared memory is several times slower.
    if (wasm) wasm.zero(grad);
    else grad.fill(0);
    const rows = setup.permutation.subarray(rowsOfSlot.start, rowsOfSlot.end);
    if (task.fault) {
      // Fail halfway, with half a gradient already in the slot: the retry must not depend on it.
      model.accumulateGradient(params, setup.train, rows.subarray(0, rows.length >> 1), grad, setup.microBatch, training);
      if (task.fault === 'exit') process.exit(70);
      throw new Error(`injected fault in worker ${task.worker} at step ${task.step}`);
    }
    sums.push(model.accumulateGradient(params, setup.train, rows, grad, setup.microBatch, training));
  });
  const computed = performance.now();

  arriveAndWait(setup.control, setup.workers, task.round, COMPUTED);
  const released = performance.now();

  const { sumSq, slotSumSq } = reduceSlots(task.reduceStart, task.reduceEnd, task.worker);
  return {
    slots: sums,
    ...(model.numBuffers > 0 && { batchStats: Float64Array.from(model.batchStats) }),
    threadId,
    computeMs: computed - started,
    waitMs: released - computed,
    reduceMs: performance.now() - released,
    updateMs,
    sumSq,
    slotSumSq,
  };
}

/** The slots summed in slot order into the reduced gradient over [start, end), with their norms. */
function reduceSlots(start: number, end: number, worker: number): { sumSq: number; slotSumSq: Float64Array } {
  return wasm
    ? wasm.reduceRange(views.slots, setup.slotCount, P, views.reduced, start, end, scratchOf(worker))
    : reduceSlotsRange(views.slots, setup.slotCount, P, views.reduced, start, end);
}

/**
 * The step with buckets (one slot per thread): the bucket a thread completes last is reduced by
 * it at once, over the whole bucket and in slot order (the same bits as the range reduce), while
 * the other threads go on with backward; no barrier. Norms go to the bucket's shared words.
 */
function bucketStep(task: StepTask, params: Float32Array, training: { seed: number; step: number }, updateMs: number, started: number): StepResult {
  const buckets = setup.buckets!;
  const grad = slot(task.firstSlot);
  grad.fill(0);
  const rowsOfSlot = task.slots[0];
  let reduceMs = 0;
  const finished = bucketArrivals(buckets, setup.workers, (b) => {
    const t0 = performance.now();
    const { start, end } = buckets.ranges[b];
    const r = reduceSlots(start, end, task.worker);
    buckets.sumSq[b] = r.sumSq;
    buckets.slotSumSq.set(r.slotSumSq, b * setup.slotCount);
    reduceMs += performance.now() - t0;
  });
  const rows = setup.permutation.subarray(rowsOfSlot.start, rowsOfSlot.end);
  const sums = model.accumulateGradient(params, setup.train, rows, grad, setup.microBatch, training, finished);
  finished(0); // buckets backward did not reach (an empty shard)
  return { slots: [sums], threadId, computeMs: performance.now() - started - reduceMs, waitMs: 0, reduceMs, updateMs, sumSq: 0, slotSumSq: new Float64Array(setup.slotCount) };
}

/** Reads version v, writes version v + 1 for the range; the source is never modified, so a retry gives the same result. */
function update(task: UpdateTask): UpdateResult {
  const started = performance.now();
  optimizer.update(task.version, views.reduced, { lr: task.lr, gradScale: task.gradScale, t: task.t, start: task.start, end: task.end });
  return { ms: performance.now() - started };
}

/**
 * A BatchNorm model's slots, in lockstep with every other worker's: at each exchange each slot's
 * partial sums go to its place in the shared exchange area, and after the barrier every worker
 * sums all slots in slot order (the same bits everywhere). A worker without slots still passes
 * every exchange, with an empty call.
 */
function batchNormSlots(task: StepTask, params: Float32Array, training: { seed: number; step: number }): StepResult['slots'] {
  while (slotModels.length < Math.max(1, task.slots.length)) slotModels.push(newModel());
  // Every allocation first: one slot's call must not grow this thread's memory under another's views.
  task.slots.forEach((rowsOfSlot, i) => slotModels[i].reserveCall(rowsOfSlot.end - rowsOfSlot.start, params, slot(task.firstSlot + i)));
  const gens = task.slots.map((rowsOfSlot, i) => {
    const grad = slot(task.firstSlot + i);
    grad.fill(0);
    const rows = setup.permutation.subarray(rowsOfSlot.start, rowsOfSlot.end);
    if (task.fault) {
      if (task.fault === 'exit') process.exit(70);
      throw new Error(`injected fault in worker ${task.worker} at step ${task.step}`);
    }
    return slotModels[i].gradientSteps(params, setup.train, rows, grad, setup.microBatch, training);
  });
  if (gens.length === 0) gens.push(model.gradientSteps(params, setup.train, [], emptyGrad(), setup.microBatch, training));
  const width = setup.exchangeWidth;
  const area = setup.slotCount * width;
  let index = 0;
  const results = runLockstep(gens, (partials) => {
    const base = (index % 2) * area;
    if (task.slots.length > 0) partials.forEach((p, i) => setup.exchange.set(p, base + (task.firstSlot + i) * width));
    exchangeBarrier(setup.control, setup.workers, task.round, index++);
    const length = partials[0].length;
    const totals = new Float64Array(length);
    for (let s = 0; s < setup.slotCount; s++) for (let j = 0; j < length; j++) totals[j] += setup.exchange[base + s * width + j];
    return totals;
  });
  return task.slots.length > 0 ? results : [];
}

let emptyGradient: Float32Array | null = null;
const emptyGrad = () => (emptyGradient ??= new Float32Array(P));

let allRows: Uint32Array | null = null;

function evaluate(task: EvaluateTask): EvaluateResult {
  const data = setup.validation;
  if (!data) throw new Error('no validation set was shared with the pool');
  if (!allRows) allRows = Uint32Array.from({ length: data.n }, (_, i) => i);
  const width = model.outputDim;
  const outputs = task.outputs && new Float32Array(task.outputs, task.start * width * 4, (task.end - task.start) * width);
  return model.evaluate(views.params[task.version % 2], data, allRows.subarray(task.start, task.end), setup.microBatch, setup.buffers, outputs);
}
