/**
 * Every error dptrain raises on purpose is a DptrainError with a stable `code`
 * (`dptrain.<area>.<problem>`), so callers and tests match on the code, not the text.
 * The message names the problem and what to do about it. docs/errors.md lists the codes.
 */
export interface DptrainErrorOptions {
  cause?: unknown;
  /** True when retrying or continuing makes sense (a lost worker), false for a user mistake. */
  recoverable?: boolean;
}

export class DptrainError extends Error {
  readonly code: string;
  readonly recoverable: boolean;

  constructor(code: string, message: string, options: DptrainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.recoverable = options.recoverable ?? false;
  }
}

/** A bad option or flag value: `dptrain.config.*`. */
export class ConfigError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.config.${problem}`, message, options);
  }
}

/** A command line that does not parse (unknown option or command, missing value): `dptrain.cli.*`. */
export class UsageError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.cli.${problem}`, message, options);
  }
}

/** A dataset spec, file or content that cannot be used: `dptrain.data.*`. */
export class DataError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.data.${problem}`, message, options);
  }
}

/** A model spec or parameter file that does not fit: `dptrain.model.*`. */
export class ModelError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.model.${problem}`, message, options);
  }
}

/** A file format problem (safetensors): `dptrain.format.*`. */
export class FormatError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.format.${problem}`, message, options);
  }
}

/** Training could not go on (non-finite loss): `dptrain.train.*`. */
export class TrainError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.train.${problem}`, message, options);
  }
}

/** A worker or engine failure: `dptrain.engine.*`. */
export class EngineError extends DptrainError {
  constructor(problem: string, message: string, options?: DptrainErrorOptions) {
    super(`dptrain.engine.${problem}`, message, options);
  }
}

/**
 * A step round of the threads engine was aborted because another thread of it failed. Thrown inside
 * a pool thread and turned there into an aborted result (an Error's class and code do not survive
 * the structured clone back to the engine), so the engine matches it by result, not by message.
 */
export class BarrierAborted extends EngineError {
  readonly round: number;
  constructor(round: number) {
    super('roundAborted', `step round ${round} was aborted because another worker failed`, { recoverable: true });
    this.round = round;
  }
}

/** An operation cancelled because the coordinator started another attempt of the step (ws engine). */
export class Superseded extends EngineError {
  constructor(what: string) {
    super('superseded', `${what} was superseded`, { recoverable: true });
  }
}

/**
 * An engine could not run a step it was given (the ws engine with no worker left): nothing of the
 * step was done, so train() ends the run before it, as at any step boundary, and writes its
 * outputs. `stepNotRun`: the run's AbortSignal fired during the wait for a worker to join;
 * `noWorkers`: none joined in time, which train() throws once the outputs are written.
 */
export class StepNotRun extends EngineError {
  constructor(step: number, problem: 'stepNotRun' | 'noWorkers' = 'stepNotRun', message = `step ${step} was not run: the run was interrupted while no worker was left to compute it`) {
    super(problem, message, { recoverable: true });
  }
}

/** Untrusted JSON that does not parse (a safetensors or checkpoint header); `position` is the offset. */
export class JsonSyntaxError extends FormatError {
  readonly position: number;
  constructor(message: string, position: number) {
    super('jsonSyntax', `${message} at position ${position}`);
    this.position = position;
  }
}

/** Shorthand for messages: a value as the user typed it. */
export function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
