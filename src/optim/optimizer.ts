/**
 * The optimizer interface, its config, validation and the factory.
 * Semantics follow torch.optim exactly (SGD with dampening 0, Adam with coupled L2, AdamW with
 * decoupled decay), so that a PyTorch user gets the numbers they expect.
 */
import { ConfigError, ModelError, shown } from '../errors.js';
import { AdamOptimizer } from './adam.js';
import { SgdOptimizer } from './sgd.js';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

export const optimizerNames: readonly OptimizerName[] = Object.freeze(['sgd', 'adam', 'adamw']);

export interface OptimizerConfig {
  name: OptimizerName;
  /** SGD momentum μ in [0, 1); 0 = plain SGD. Must be 0 for adam/adamw (their momentum is beta1). */
  momentum: number;
  /** Nesterov momentum (SGD only; needs momentum > 0, as in PyTorch). */
  nesterov: boolean;
  /** sgd/adam: L2 penalty added to the gradient; adamw: decoupled decay p *= 1 - lr·wd. */
  weightDecay: number;
  /** Adam/AdamW first-moment decay, in [0, 1). */
  beta1: number;
  /** Adam/AdamW second-moment decay, in [0, 1). */
  beta2: number;
  /** Adam/AdamW denominator term, > 0. */
  eps: number;
}

/** Plain SGD; the Adam fields hold PyTorch's defaults (0.9, 0.999, 1e-8). */
export const defaultOptimizerConfig: Readonly<OptimizerConfig> = Object.freeze({
  name: 'sgd',
  momentum: 0,
  nesterov: false,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
});

export interface UpdateArgs {
  /** Learning rate of this step (after schedule and LR rule). */
  lr: number;
  /**
   * Multiplies every gradient element before anything else. The reduced gradient is a SUM over
   * the global batch, so the caller passes (1 / globalCount) × clip factor.
   */
  gradScale: number;
  /** 1-based number of this update (Adam's bias correction). */
  t: number;
  /** First parameter index to update (default 0). */
  start?: number;
  /** One past the last parameter index to update (default all). */
  end?: number;
}

export interface Optimizer {
  readonly config: Readonly<OptimizerConfig>;
  /**
   * Optimizer state under PyTorch's names, each [numParams] float32: {} for plain SGD,
   * { momentum_buffer } for SGD with momentum, { exp_avg, exp_avg_sq } for Adam/AdamW.
   * The arrays are live: a checkpoint reads them, a resume writes into them.
   */
  readonly state: Readonly<Record<string, Float32Array>>;
  /**
   * Updates params[start, end) in place from grad[start, end). Purely element-wise, so threads may
   * update disjoint ranges of the same shared arrays, and ranges give bit-identical results to
   * one call over everything. SGD computes in float32 (as PyTorch), Adam and AdamW in float64; stored in float32.
   */
  update(params: Float32Array, grad: Float32Array, args: UpdateArgs): void;
}

/**
 * Checks every field; throws a ConfigError (`dptrain.config.bad<Field>`) that names the flag.
 */
export function validateOptimizerConfig(c: OptimizerConfig): void {
  if (!optimizerNames.includes(c.name)) {
    throw new ConfigError('badOptimizer', `--optimizer must be one of ${optimizerNames.join(', ')} (got ${shown(c.name)})`);
  }
  if (typeof c.momentum !== 'number' || !(c.momentum >= 0 && c.momentum < 1)) {
    throw new ConfigError('badMomentum', `--momentum must be in [0, 1) (got ${shown(c.momentum)})`);
  }
  if (c.name !== 'sgd' && c.momentum !== 0) {
    throw new ConfigError(
      'badMomentum',
      `--momentum applies only to --optimizer sgd (got ${shown(c.momentum)} with --optimizer ${c.name}; Adam's momentum is --beta1)`,
    );
  }
  if (typeof c.nesterov !== 'boolean') {
    throw new ConfigError('badNesterov', `--nesterov must be true or false (got ${shown(c.nesterov)})`);
  }
  if (c.nesterov && c.name !== 'sgd') {
    throw new ConfigError('badNesterov', `--nesterov applies only to --optimizer sgd (got --optimizer ${c.name})`);
  }
  if (c.nesterov && c.momentum === 0) {
    // PyTorch: "Nesterov momentum requires a momentum and zero dampening".
    throw new ConfigError('badNesterov', '--nesterov requires --momentum > 0 (got 0)');
  }
  if (typeof c.weightDecay !== 'number' || !(c.weightDecay >= 0 && c.weightDecay < Infinity)) {
    throw new ConfigError('badWeightDecay', `--weight-decay must be a finite number >= 0 (got ${shown(c.weightDecay)})`);
  }
  if (typeof c.beta1 !== 'number' || !(c.beta1 >= 0 && c.beta1 < 1)) {
    throw new ConfigError('badBeta1', `--beta1 must be in [0, 1) (got ${shown(c.beta1)})`);
  }
  if (typeof c.beta2 !== 'number' || !(c.beta2 >= 0 && c.beta2 < 1)) {
    throw new ConfigError('badBeta2', `--beta2 must be in [0, 1) (got ${shown(c.beta2)})`);
  }
  if (typeof c.eps !== 'number' || !(c.eps > 0 && c.eps < Infinity)) {
    throw new ConfigError('badEps', `--eps must be a finite number > 0 (got ${shown(c.eps)})`);
  }
}

/**
 * Validates `config` and creates the optimizer for `numParams` parameters.
 * `allocate(length)` provides each state array (default `new Float32Array(length)`), e.g. views of a
 * SharedArrayBuffer. It must return zeroed arrays for a fresh start; they are not cleared here, so
 * several threads may each create an Optimizer over the same shared state.
 */
export function createOptimizer(
  config: OptimizerConfig,
  numParams: number,
  allocate: (length: number) => Float32Array = (length) => new Float32Array(length),
): Optimizer {
  validateOptimizerConfig(config);
  if (!Number.isSafeInteger(numParams) || numParams < 0) {
    throw new RangeError(`numParams must be a non-negative integer (got ${numParams})`);
  }
  const frozen: Readonly<OptimizerConfig> = Object.freeze({ ...config });
  const stateArray = (name: string): Float32Array => {
    const a = allocate(numParams);
    if (!(a instanceof Float32Array) || a.length !== numParams) {
      throw new RangeError(`allocate(${numParams}) for optimizer state ${name} must return a Float32Array of that length`);
    }
    return a;
  };
  return config.name === 'sgd' ? new SgdOptimizer(frozen, numParams, stateArray) : new AdamOptimizer(frozen, numParams, stateArray);
}

/**
 * Writes saved optimizer state (a checkpoint's) into an optimizer's live state arrays. The names and
 * lengths must match exactly: state from another optimizer or model would silently change the run.
 */
export function restoreOptimizerState(target: Readonly<Record<string, Float32Array>>, saved: Readonly<Record<string, Float32Array>>): void {
  const want = Object.keys(target).sort();
  const have = Object.keys(saved).sort();
  if (want.join(',') !== have.join(',')) {
    throw new ModelError('optimizerStateMismatch', `the saved optimizer state holds [${have.join(', ')}] but this optimizer needs [${want.join(', ')}] — resume with the optimizer options the run was started with`);
  }
  for (const name of want) {
    if (saved[name].length !== target[name].length) {
      throw new ModelError('optimizerStateMismatch', `the saved optimizer state "${name}" has ${saved[name].length} values; this model needs ${target[name].length}`);
    }
    target[name].set(saved[name]);
  }
}
