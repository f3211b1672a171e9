/**
 * Goodput for `--batch-size auto` (docs/batch-size.md, "Choosing the batch size while training"):
 * statistical efficiency from the gradient noise scale φ = tr(Σ)/|G|² (Pollux, Qiao et al. OSDI
 * 2021; McCandlish et al. 2018), the AdaScale gain (Johnson et al. ICML 2020), and the batch size
 * that maximizes (samples per second) × (progress per sample). Pure functions of numbers.
 */

/** A step-time model T(B) = fixedMs + perSampleMs·B for the current engine and workers. */
export interface StepTimeLine {
  /** Per-step cost that does not grow with B: dispatch, all-reduce, update, waiting. */
  fixedMs: number;
  /** Cost of one more sample in the global batch (compute divided over the workers). */
  perSampleMs: number;
}

/**
 * Progress per sample at batch B relative to the base batch B0: E(B) = (φ + B0)/(φ + B).
 * E(B0) = 1; with no noise (φ → 0) E → B0/B (a bigger batch wastes its extra samples), with
 * pure noise (φ → ∞) E → 1 (every sample counts as much at any batch size).
 */
export function statisticalEfficiency(batchSize: number, phi: number, baseBatchSize: number): number {
  const p = Math.max(0, phi);
  return (p + baseBatchSize) / (p + batchSize);
}

/**
 * AdaScale's gain ratio r = (B/B0)·(φ + B0)/(φ + B) = (σ² + μ²)/(σ²/S + μ²) with S = B/B0,
 * σ² = tr(Σ)/B0 and μ² = |G|²: between 1 (no noise: a bigger batch gives the same step) and
 * B/B0 (pure noise: the linear scaling rule). The learning rate at B is r times the rate at B0.
 */
export function adaScaleGain(batchSize: number, phi: number, baseBatchSize: number): number {
  return (batchSize / baseBatchSize) * statisticalEfficiency(batchSize, phi, baseBatchSize);
}

/** Predicted step time in ms. */
export function stepTimeMs(line: StepTimeLine, batchSize: number): number {
  return line.fixedMs + line.perSampleMs * batchSize;
}

/**
 * Goodput in base-batch samples per second: (B / T(B)) · E(B), the rate at which training
 * progresses measured in samples at B0's efficiency.
 */
export function goodput(batchSize: number, phi: number, baseBatchSize: number, line: StepTimeLine): number {
  return ((batchSize * 1000) / stepTimeMs(line, batchSize)) * statisticalEfficiency(batchSize, phi, baseBatchSize);
}

/**
 * The unconstrained maximum of goodput over real B: d/dB log[B / ((a + bB)(φ + B))] = 0 gives
 * B* = √(a·φ/b). It grows with the fixed cost a (more workers, a slower all-reduce) and with φ.
 */
export function analyticOptimum(phi: number, line: StepTimeLine): number {
  if (!(line.perSampleMs > 0)) return Infinity;
  return Math.sqrt((Math.max(0, line.fixedMs) * Math.max(0, phi)) / line.perSampleMs);
}

export interface BatchChoiceInput {
  current: number;
  phi: number;
  baseBatchSize: number;
  line: StepTimeLine;
  /** Bounds, inclusive: --min-batch-size and --max-batch-size (resolved). */
  min: number;
  max: number;
  /** Largest change at once, as a factor (2: from B/2 to 2B). */
  maxFactor: number;
  /** Keep the current B unless the best predicts at least this relative goodput gain (0.02 = 2%). */
  minGain: number;
}

export interface BatchChoice {
  batchSize: number;
  /** goodput(choice) / goodput(current) − 1: the predicted relative gain (0 when kept). */
  predictedGain: number;
  /** Predicted goodput at the choice, base-batch samples per second. */
  goodput: number;
  /** Why: `goodput`, `bound` (the best lies beyond the 2x step or the bounds), `keep` (the gain is below minGain). */
  reason: 'goodput' | 'limited' | 'keep';
}

/**
 * The integer B within [max(min, ⌈current/maxFactor⌉), min(max, ⌊current·maxFactor⌋)] with the
 * highest goodput; the current B is kept unless that gains at least `minGain`. Goodput is
 * unimodal in B, so the reachable best is the candidate nearest the analytic optimum, but the
 * candidates are evaluated (at most ~2,000 of them) rather than trusting that.
 */
export function chooseBatchSize(input: BatchChoiceInput): BatchChoice {
  const { current, phi, baseBatchSize: b0, line } = input;
  const lo = Math.max(input.min, Math.ceil(current / input.maxFactor));
  const hi = Math.max(lo, Math.min(input.max, Math.floor(current * input.maxFactor)));
  const score = (b: number) => goodput(b, phi, b0, line);
  const currentScore = score(current);
  let best = current;
  let bestScore = currentScore;
  for (const b of candidates(lo, hi)) {
    const s = score(b);
    if (s > bestScore) {
      best = b;
      bestScore = s;
    }
  }
  const gain = bestScore / currentScore - 1;
  if (best === current || gain < input.minGain) return { batchSize: current, predictedGain: 0, goodput: currentScore, reason: 'keep' };
  // Limited: the best reachable B sits on the edge of the window while the optimum lies beyond it.
  const optimum = analyticOptimum(phi, line);
  const limited = (best === hi && optimum > hi && hi < input.max) || (best === lo && optimum < lo && lo > input.min);
  return { batchSize: best, predictedGain: gain, goodput: bestScore, reason: limited ? 'limited' : 'goodput' };
}

/** Every integer in [lo, hi] when there are at most 2,000; else 2,000 geometrically spaced ones and the ends. */
function candidates(lo: number, hi: number): number[] {
  const count = hi - lo + 1;
  if (count <= 2000) return Array.from({ length: count }, (_, i) => lo + i);
  const out = new Set<number>([lo, hi]);
  const ratio = Math.pow(hi / lo, 1 / 1999);
  for (let i = 0, b = lo; i < 2000; i++, b *= ratio) out.add(Math.min(hi, Math.round(b)));
  return [...out].sort((x, y) => x - y);
}
