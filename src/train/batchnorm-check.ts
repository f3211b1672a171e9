/**
 * Refuses, before training, a --batchnorm setting under which a BatchNorm layer would have a
 * single value per channel to normalize over (PyTorch refuses it too: "Expected more than 1
 * value per channel when training"), and a ghost batch that does not divide the global batch.
 * Only BatchNorm1d can hit this: an image gives H·W values per sample and channel.
 */
import { ConfigError } from '../errors.js';
import { buildStack, type BatchNormMode, type ModelSpec } from '../model/index.js';

export interface BatchNormBatches {
  mode: BatchNormMode;
  batchSize: number;
  /** Samples of the last batch of an epoch (= batchSize when it is full or dropped). */
  lastBatch: number;
  /** Training samples per epoch (lastBatch is trainSamples mod batchSize when partial). */
  trainSamples: number;
  /** Pieces a batch is split into for normalization in local mode (workers, or fixed chunks); 0 = unknown (ws). */
  slots: number;
}

export function checkBatchNormBatches(model: ModelSpec, b: BatchNormBatches): void {
  const stack = buildStack(model);
  const norms = stack.layers.filter((s) => s.layer.type === 'batchnorm');
  if (norms.length === 0) return;
  const mode = b.mode;
  if (mode.kind === 'ghost' && b.batchSize % mode.group !== 0) {
    throw new ConfigError('badOption', `--batchnorm ghost:${mode.group} needs ghost batches that divide the global batch of ${b.batchSize} samples — use a G that divides it (e.g. ghost:${largestDivisorBelow(b.batchSize, mode.group)}) or change --batch-size`);
  }
  const flat = norms.find((s) => s.inShape.length === 1);
  if (!flat) return;
  const where = `the BatchNorm1d layer ${flat.name} (bn on ${flat.inShape[0]} features)`;
  const fix = 'PyTorch refuses it too — use a larger --batch-size, --drop-last, or move bn after a conv layer';
  const smallest = (batch: number): number => {
    if (mode.kind === 'sync') return batch;
    if (mode.kind === 'ghost') return batch % mode.group === 0 ? Math.min(mode.group, batch) : batch % mode.group;
    return b.slots > 0 ? Math.floor(batch / b.slots) : batch;
  };
  for (const batch of new Set([b.batchSize, b.lastBatch])) {
    const n = smallest(batch);
    if (n < 2) {
      if (batch === b.batchSize) {
        const unit = mode.kind === 'sync' ? `a batch of ${batch} sample(s)` : mode.kind === 'ghost' ? `a ghost batch of ${n} sample(s) (batch ${batch}, ghost:${mode.group})` : `a shard of ${n} sample(s) (batch ${batch} over ${b.slots} workers or chunks, --batchnorm local)`;
        throw new ConfigError('badOption', `${where} would normalize ${unit}: a batch statistic needs at least 2 values per channel; ${fix}`);
      }
      // Only the epoch's partial last batch is too small: a larger batch need not help, dropping it or another size does.
      const other = batchSizeAround(b, (size) => (mode.kind !== 'ghost' || size % mode.group === 0) && smallest(size) >= 2 && smallest(b.trainSamples % size || size) >= 2);
      const partial = `the last batch of each epoch, which is partial: ${b.trainSamples} training samples mod batch size ${b.batchSize} = ${batch} sample(s)`;
      const what = mode.kind === 'sync' ? partial : mode.kind === 'ghost' ? `a ghost batch of ${n} sample(s) (ghost:${mode.group}) in ${partial}` : `a shard of ${n} sample(s) (over ${b.slots} workers or chunks, --batchnorm local) of ${partial}`;
      throw new ConfigError(
        'badOption',
        `${where} would normalize ${what}; a batch statistic needs at least 2 values per channel (PyTorch refuses it too) — give --drop-last to leave that batch out, or another --batch-size${other === null ? '' : ` (e.g. ${other})`}`,
      );
    }
  }
}

/** The batch size nearest to b.batchSize (below first) that `fits`, or null. */
function batchSizeAround(b: BatchNormBatches, fits: (size: number) => boolean): number | null {
  for (let d = 1; d < b.trainSamples; d++) {
    for (const size of [b.batchSize - d, b.batchSize + d]) if (size >= 2 && size <= b.trainSamples && fits(size)) return size;
  }
  return null;
}

function largestDivisorBelow(n: number, g: number): number {
  for (let d = Math.min(g, n); d > 1; d--) if (n % d === 0) return d;
  return n;
}
