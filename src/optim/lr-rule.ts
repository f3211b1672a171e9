/**
 * Scaling the learning rate with the global batch size: linear (Goyal et al. 2017: "when the minibatch
 * size is multiplied by k, multiply the learning rate by k") or square root (Krizhevsky 2014;
 * Hoffer et al. 2017: keeps the covariance of the updates fixed).
 */
import { ConfigError, shown } from '../errors.js';

export type LrRule = 'none' | 'linear' | 'sqrt';

export const lrRules: readonly LrRule[] = Object.freeze(['none', 'linear', 'sqrt']);

/**
 * `lr` for `baseBatchSize` (--base-batch-size B0) scaled to the global `batchSize` B:
 * none: lr; linear: lr·B/B0; sqrt: lr·sqrt(B/B0). Pass the configured B, not a partial last batch.
 */
export function scaleLearningRate(lr: number, batchSize: number, baseBatchSize: number, rule: LrRule): number {
  if (!lrRules.includes(rule)) {
    throw new ConfigError('badLrRule', `--lr-rule must be one of ${lrRules.join(', ')} (got ${shown(rule)})`);
  }
  if (rule === 'none') return lr;
  if (!(typeof batchSize === 'number' && Number.isSafeInteger(batchSize) && batchSize >= 1)) {
    throw new ConfigError('badBatchSize', `--batch-size must be a positive integer (got ${shown(batchSize)})`);
  }
  if (!(typeof baseBatchSize === 'number' && Number.isSafeInteger(baseBatchSize) && baseBatchSize >= 1)) {
    throw new ConfigError('badBaseBatchSize', `--base-batch-size must be a positive integer (got ${shown(baseBatchSize)})`);
  }
  const k = batchSize / baseBatchSize;
  return rule === 'linear' ? lr * k : lr * Math.sqrt(k);
}
