/**
 * evaluate's classification metrics against scikit-learn's classification_report and
 * confusion_matrix with labels=None (the union of true and predicted labels; zero_division=0).
 * The expected figures are worked out by hand from sklearn's definitions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classificationMetrics } from '../src/inference/index.js';

const NAMES = ['setosa', 'versicolor', 'virginica'];

/** One-hot logits [n, 3] that predict `predicted`, and the labels. */
function metrics(truth: number[], predicted: number[]) {
  const logits = new Float32Array(predicted.length * 3);
  predicted.forEach((p, i) => (logits[i * 3 + p] = 1));
  const correct = truth.filter((t, i) => t === predicted[i]).length;
  return classificationMetrics(logits, Float32Array.from(truth), NAMES, { lossSum: 0, correct, count: truth.length });
}

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

test('a class with no samples that is never predicted is left out of the classes, the macro average and the confusion matrix', () => {
  // y_true = [0, 0, 1, 1, 1], y_pred = [0, 1, 1, 1, 0]: labels {0, 1}; virginica is in neither.
  const m = metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0]);
  assert.deepEqual(m.classes.map((c) => [c.name, c.support]), [['setosa', 2], ['versicolor', 3]]);
  close(m.classes[0].precision, 1 / 2, 'setosa precision');
  close(m.classes[1].f1, 2 / 3, 'versicolor f1');
  // sklearn: macro = (0.5 + 2/3) / 2, weighted = (2·0.5 + 3·2/3) / 5.
  close(m.macro.precision, (1 / 2 + 2 / 3) / 2, 'macro precision');
  close(m.macro.recall, (1 / 2 + 2 / 3) / 2, 'macro recall');
  close(m.macro.f1, (1 / 2 + 2 / 3) / 2, 'macro f1');
  close(m.weighted.f1, 3 / 5, 'weighted f1');
  assert.deepEqual(m.confusion, [[1, 1], [1, 2]]);
  assert.equal(m.correct, 3);
  assert.equal(m.accuracy, 3 / 5);
});

test('a class with no samples that is predicted stays, with precision 0, and counts in the macro average', () => {
  // y_true = [0, 1], y_pred = [2, 1]: labels {0, 1, 2}.
  const m = metrics([0, 1], [2, 1]);
  assert.deepEqual(m.classes.map((c) => [c.name, c.precision, c.recall, c.support]), [['setosa', 0, 0, 1], ['versicolor', 1, 1, 1], ['virginica', 0, 0, 0]]);
  close(m.macro.precision, 1 / 3, 'macro precision');
  close(m.weighted.precision, 1 / 2, 'weighted precision');
  assert.deepEqual(m.confusion, [[0, 0, 1], [0, 1, 0], [0, 0, 0]]);
});

test('with every class present, all are reported in the model\'s order', () => {
  const m = metrics([2, 1, 0], [2, 1, 0]);
  assert.deepEqual(m.classes.map((c) => c.name), NAMES);
  assert.deepEqual(m.macro, { precision: 1, recall: 1, f1: 1 });
});
