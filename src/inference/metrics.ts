/**
 * Evaluation metrics from a model's outputs, as scikit-learn's classification_report,
 * confusion_matrix and regression metrics define them (zero_division = 0; R² of a constant target
 * is 1 for a perfect fit, else 0, as r2_score's force_finite).
 */
import type { BatchResult } from '../model/index.js';

export interface ClassMetrics {
  /** The class's name (the model's; its index as text when it has none). */
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Samples whose true class this is. */
  support: number;
}

export interface ClassificationMetrics {
  task: 'classification';
  samples: number;
  /** Mean cross-entropy, as training reports it. */
  loss: number;
  accuracy: number;
  correct: number;
  /** The classes that occur in the labels or the predictions, in the model's class order; the others are left out (scikit-learn's labels=None). */
  classes: ClassMetrics[];
  macro: { precision: number; recall: number; f1: number };
  weighted: { precision: number; recall: number; f1: number };
  /** confusion[true][predicted] counts, rows and columns in the order of `classes`. */
  confusion: number[][];
}

export interface OutputMetrics {
  name: string;
  mse: number;
  rmse: number;
  mae: number;
  r2: number;
}

export interface RegressionMetrics {
  task: 'regression';
  samples: number;
  /** Mean squared error averaged over the outputs, as training reports it. */
  loss: number;
  mse: number;
  rmse: number;
  mae: number;
  /** The mean of the outputs' R² (r2_score's uniform_average). */
  r2: number;
  outputs: OutputMetrics[];
}

export type EvaluationMetrics = ClassificationMetrics | RegressionMetrics;

/** The index of the first largest value of row r: the rule the loss kernels count `correct` by. */
export function argmaxRow(outputs: Float32Array, r: number, width: number): number {
  let best = 0;
  let max = outputs[r * width];
  for (let c = 1; c < width; c++) {
    const v = outputs[r * width + c];
    if (v > max) {
      max = v;
      best = c;
    }
  }
  return best;
}

/**
 * Classification metrics from the logits [n, k], the labels and the engine's sums. As
 * classification_report and confusion_matrix with labels=None, the classes reported (and averaged
 * over by the macro average) are those that occur in the labels or the predictions: a class the
 * data never holds and the model never predicts is left out of the table, the averages and the
 * confusion matrix (a 2-class test file for a 3-class model is scored over its 2 classes).
 */
export function classificationMetrics(logits: Float32Array, labels: Float32Array, classNames: readonly string[], sums: BatchResult): ClassificationMetrics {
  const k = classNames.length;
  const n = labels.length;
  const full = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) full[labels[i]][argmaxRow(logits, i, k)] += 1;
  // The classes that occur as a label or a prediction, in index order (scikit-learn's unique_labels).
  const supportOf = (c: number) => full[c].reduce((a, b) => a + b, 0);
  const predictedOf = (c: number) => full.reduce((a, row) => a + row[c], 0);
  const shown = classNames.map((_, c) => c).filter((c) => supportOf(c) > 0 || predictedOf(c) > 0);
  const confusion = shown.map((t) => shown.map((p) => full[t][p]));
  const safe = (a: number, b: number): number => (b > 0 ? a / b : 0);
  const classes = shown.map((c) => {
    const tp = full[c][c];
    const support = supportOf(c);
    const precision = safe(tp, predictedOf(c));
    const recall = safe(tp, support);
    return { name: classNames[c], precision, recall, f1: safe(2 * precision * recall, precision + recall), support };
  });
  const average = (weight: (m: ClassMetrics) => number) => {
    const total = classes.reduce((a, m) => a + weight(m), 0);
    const mean = (key: 'precision' | 'recall' | 'f1') => safe(classes.reduce((a, m) => a + weight(m) * m[key], 0), total);
    return { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') };
  };
  const correct = shown.reduce((a, c) => a + full[c][c], 0);
  return {
    task: 'classification',
    samples: n,
    loss: safe(sums.lossSum, sums.count),
    accuracy: safe(sums.correct, sums.count),
    correct,
    classes,
    macro: average(() => 1),
    weighted: average((m) => m.support),
    confusion,
  };
}

/** Regression metrics from the predictions and targets, both [n, outputs]. */
export function regressionMetrics(predictions: Float32Array, targets: Float32Array, names: readonly string[], sums: BatchResult): RegressionMetrics {
  const width = names.length;
  const n = width > 0 ? targets.length / width : 0;
  const outputs = names.map((name, o) => {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += targets[i * width + o];
    mean /= Math.max(n, 1);
    let se = 0;
    let ae = 0;
    let variance = 0;
    for (let i = 0; i < n; i++) {
      const t = targets[i * width + o];
      const e = predictions[i * width + o] - t;
      se += e * e;
      ae += Math.abs(e);
      variance += (t - mean) * (t - mean);
    }
    const mse = se / Math.max(n, 1);
    const r2 = variance > 0 ? 1 - se / variance : se === 0 ? 1 : 0;
    return { name, mse, rmse: Math.sqrt(mse), mae: ae / Math.max(n, 1), r2 };
  });
  const meanOf = (key: 'mse' | 'mae' | 'r2') => outputs.reduce((a, m) => a + m[key], 0) / Math.max(width, 1);
  const mse = meanOf('mse');
  return { task: 'regression', samples: n, loss: sums.count > 0 ? sums.lossSum / sums.count : 0, mse, rmse: Math.sqrt(mse), mae: meanOf('mae'), r2: meanOf('r2'), outputs };
}

/** Softmax of each row of `logits` [n, k], in float64 then stored as float32. */
export function softmaxRows(logits: Float32Array, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[r * k + c] - max);
    for (let c = 0; c < k; c++) out[r * k + c] = Math.exp(logits[r * k + c] - max) / sum;
  }
  return out;
}
