/**
 * A thread of the threads engine's piscina pool. It maps the shared buffers once (workerData)
 * and then runs plans: compute a shard's gradient sum into its slot, reduce a parameter range
 * over all slots, update a parameter range, or evaluate rows of the validation set.
 */
import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { reduceSlotsRange } from '../collective/index.js';
import { arriveAndWait } from './barrier.js';
import { Model, parseModelSpec } from '../model/index.js';
import { loadKernels } from '../kernels/index.js';
import { createOptimizer, type Optimizer } from '../optim/index.js';
import type {
  EvaluateResult,
  EvaluateTask,
  StepResult,
  StepTask,
  UpdateResult,
  UpdateTask,
  WorkerSetup,
  WorkerTask,
} from './messages.js';
import { stateAllocator } from './shared-memory.js';

const setup = Piscina.workerData as WorkerSetup;
// Each thread loads its own kernel instance once (wasm memory is per thread).
const model = new Model(parseModelSpec(setup.model), { kernels: await loadKernels(setup.kernels) });
const P = setup.numParams;
const slot = (worker: number) => setup.slots.subarray(worker * P, (worker + 1) * P);

/** One optimizer per parameter version parity, each over that parity's shared state. */
const optimizers: [Optimizer, Optimizer] = [
  createOptimizer(setup.optimizer, P, stateAllocator(setup.state[0], P)),
  createOptimizer(setup.optimizer, P, stateAllocator(setup.state[1], P)),
];

export default function run(task: WorkerTask): StepResult | UpdateResult | EvaluateResult {
  switch (task.kind) {
    case 'step':
      return step(task);
    case 'update':
      return update(task);
    case 'evaluate':
      return evaluate(task);
  }
}

/** Compute this worker's slots, barrier, then reduce-scatter this worker's parameter range. */
function step(task: StepTask): StepResult {
  const started = performance.now();
  const params = setup.params[task.version % 2];
  const sums: StepResult['slots'] = [];
  task.slots.forEach((rowsOfSlot, i) => {
    const grad = slot(task.firstSlot + i);
    grad.fill(0);
    const rows = setup.permutation.subarray(rowsOfSlot.start, rowsOfSlot.end);
    if (task.fault) {
      // Fail halfway, with half a gradient already in the slot: the retry must not depend on it.
      model.accumulateGradient(params, setup.train, rows.subarray(0, rows.length >> 1), grad, setup.microBatch);
      if (task.fault === 'exit') process.exit(70);
      throw new Error(`injected fault in worker ${task.worker} at step ${task.step}`);
    }
    sums.push(model.accumulateGradient(params, setup.train, rows, grad, setup.microBatch));
  });
  const computed = performance.now();

  arriveAndWait(setup.control, setup.workers, task.round);
  const released = performance.now();

  const { sumSq, slotSumSq } = reduceSlotsRange(setup.slots, setup.slotCount, P, setup.reduced, task.reduceStart, task.reduceEnd);
  return {
    slots: sums,
    threadId,
    computeMs: computed - started,
    waitMs: released - computed,
    reduceMs: performance.now() - released,
    sumSq,
    slotSumSq,
  };
}

/**
 * Reads version v, writes version v + 1 for the range: copy, then update in place. The source
 * is never modified, so a retry after a failure mid-update gives the same result.
 */
function update(task: UpdateTask): UpdateResult {
  const started = performance.now();
  const from = task.version % 2;
  const to = 1 - from;
  const { start, end } = task;
  setup.params[to].set(setup.params[from].subarray(start, end), start);
  for (let k = 0; k < setup.stateTensors; k++) {
    setup.state[to].set(setup.state[from].subarray(k * P + start, k * P + end), k * P + start);
  }
  optimizers[to].update(setup.params[to], setup.reduced, { lr: task.lr, gradScale: task.gradScale, t: task.t, start, end });
  return { ms: performance.now() - started };
}

let allRows: Uint32Array | null = null;

function evaluate(task: EvaluateTask): EvaluateResult {
  const data = setup.validation;
  if (!data) throw new Error('no validation set was shared with the pool');
  if (!allRows) allRows = Uint32Array.from({ length: data.n }, (_, i) => i);
  return model.evaluate(setup.params[task.version % 2], data, allRows.subarray(task.start, task.end), setup.microBatch);
}
