/**
 * The sweep's own option names and defaults, apart from their resolution (sweep-options.ts):
 * `dptrain sweep --help` shows them without loading the training code.
 */
export type SweepLrRule = 'none' | 'linear' | 'sqrt' | 'tuned';
export const sweepLrRules: readonly SweepLrRule[] = ['none', 'linear', 'sqrt', 'tuned'];

/** Defaults of the sweep's own options, in one place. */
export const SWEEP_DEFAULTS = Object.freeze({
  seeds: 1,
  lrRule: 'none' as SweepLrRule,
  /** Learning rates tried per batch size under `tuned` (the same budget for every B). */
  lrTrials: 5,
  /** Ratio of neighbouring rates on the tuned grid. */
  lrFactor: 2,
  /** Rows drawn to measure B_simple at the start and end of each run. */
  gnsSamples: 1024,
  /** Validations per epoch at every B (0 = the training option evalEvery as given). */
  evalsPerEpoch: 0,
});
