/**
 * Losses over a batch of rows. Each returns the SUM over rows (workers return sums; the
 * caller divides by the global count, docs/architecture.md, "Semantics the engines keep") and writes the gradient of that sum.
 */
import type { FloatArray } from '../util/float.js';

export interface SoftmaxCrossEntropyResult {
  /** Σ over rows of −log softmax(logits)[label]. */
  lossSum: number;
  /** Rows whose argmax (first maximum wins) equals the label. */
  correct: number;
}

export interface MeanSquaredErrorResult {
  /** Σ over rows of mean over outputs of (pred − target)². */
  lossSum: number;
}

/**
 * Softmax cross-entropy, stable: log-sum-exp after subtracting the row maximum.
 * logits: [n, classes], labels: [n] (class indices stored as float) -> dlogits: [n, classes]
 * dlogits = softmax − onehot(label), the gradient of lossSum; pass null to skip it (evaluation).
 * Labels must be integers in [0, classes); the caller validates them.
 */
export function softmaxCrossEntropy(
  logits: FloatArray,
  labels: Float32Array,
  n: number,
  classes: number,
  dlogits: FloatArray | null,
): SoftmaxCrossEntropyResult {
  let lossSum = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let max = logits[row];
    let argmax = 0;
    for (let c = 1; c < classes; c++) {
      const v = logits[row + c];
      if (v > max) {
        max = v;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[row + c] - max);
    const label = labels[i];
    // −log softmax[label] = log Σ exp(l − max) − (l[label] − max)
    lossSum += Math.log(sum) - (logits[row + label] - max);
    if (argmax === label) correct++;
    if (dlogits !== null) {
      const inv = 1 / sum;
      for (let c = 0; c < classes; c++) dlogits[row + c] = Math.exp(logits[row + c] - max) * inv;
      dlogits[row + label] -= 1;
    }
  }
  return { lossSum, correct };
}

/**
 * Mean squared error per sample (PyTorch MSELoss over one sample's outputs), summed over rows.
 * pred, targets: [n, dim] -> dpred: [n, dim] = 2(pred − target)/dim, the gradient of lossSum;
 * pass null to skip it.
 */
export function meanSquaredError(
  pred: FloatArray,
  targets: FloatArray,
  n: number,
  dim: number,
  dpred: FloatArray | null,
): MeanSquaredErrorResult {
  let lossSum = 0;
  const total = n * dim;
  const scale = 2 / dim;
  for (let i = 0; i < total; i++) {
    const d = pred[i] - targets[i];
    lossSum += d * d;
    if (dpred !== null) dpred[i] = scale * d;
  }
  return { lossSum: lossSum / dim };
}
