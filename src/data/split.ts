/** Seeded train/validation split. */
import { DataError } from '../errors.js';
import { permutation, Rng } from '../util/rng.js';
import { subset, type Dataset } from './dataset.js';

/**
 * Splits off round(n·valFraction) validation samples chosen by a permutation drawn from
 * `new Rng(seed, 'split')`. Both parts keep ascending original-index order, so the epoch
 * shuffle alone decides the training order. valFraction 0 gives `val: null`; a fraction that
 * rounds to no validation samples, or to no training samples, is an error (`badValSplit`).
 * Both parts keep the parent's spec (the spec they were loaded from).
 */
export function splitDataset(ds: Dataset, valFraction: number, seed: number): { train: Dataset; val: Dataset | null } {
  if (typeof valFraction !== 'number' || !Number.isFinite(valFraction) || valFraction < 0 || valFraction >= 1) {
    throw new DataError('badValSplit', `--val-split must be a fraction in [0, 1) (got ${String(valFraction)})`);
  }
  if (valFraction === 0) return { train: ds, val: null };
  const nVal = Math.round(ds.n * valFraction);
  if (nVal === 0 || nVal === ds.n) {
    const part = nVal === 0 ? 'no validation samples' : 'no training samples';
    throw new DataError('badValSplit', `--val-split ${valFraction} of ${ds.n === 1 ? '1 sample' : `${ds.n} samples`} leaves ${part} — ${validSplits(ds.n)}`);
  }
  const perm = permutation(ds.n, new Rng(seed, 'split'));
  const isVal = new Uint8Array(ds.n);
  for (let k = 0; k < nVal; k++) isVal[perm[k]] = 1;
  const trainIdx = new Uint32Array(ds.n - nVal);
  const valIdx = new Uint32Array(nVal);
  for (let i = 0, t = 0, v = 0; i < ds.n; i++) {
    if (isVal[i]) valIdx[v++] = i;
    else trainIdx[t++] = i;
  }
  return { train: subset(ds, trainIdx), val: subset(ds, valIdx) };
}

/** The fractions that leave a sample on each side of n, in words: 1/n up to 1 − 1/n, rounded inwards. */
function validSplits(n: number): string {
  if (n < 2) return 'one sample cannot be split: use --val-split 0 (no validation)';
  const decimals = Math.ceil(Math.log10(n));
  const scale = 10 ** decimals;
  const low = (Math.ceil(scale / n) / scale).toFixed(decimals);
  const high = (Math.floor((scale * (n - 1)) / n) / scale).toFixed(decimals);
  return `${low === high ? `use --val-split ${low}` : `use a fraction from ${low} to ${high}`}, or 0 for no validation`;
}
