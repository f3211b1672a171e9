/**
 * Fast standard normals for generating large synthetic datasets: the ziggurat method of
 * Marsaglia & Tsang (2000), "The Ziggurat Method for Generating Random Variables", 128 layers,
 * over an Rng's uint32 stream. Rng.normal (polar Box-Muller, a log and a sqrt per pair) took
 * 2.3 s for the 47M values of synthetic:blobs?n=60000&d=784; this takes about a quarter of that.
 * The layer index and the value come from different bits of the uint32 (Doornik 2005 notes the
 * correlation when the original shares them).
 */
import type { Rng } from '../util/rng.js';

const LAYERS = 128;
const R = 3.442619855899; // start of the tail
const AREA = 9.91256303526217e-3; // area of each layer
const SCALE = 2 ** 24; // the value is a signed 25-bit integer

const kn = new Int32Array(LAYERS);
const wn = new Float64Array(LAYERS);
const fn = new Float64Array(LAYERS);
{
  let dn = R;
  let tn = dn;
  const q = AREA / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * SCALE);
  kn[1] = 0;
  wn[0] = q / SCALE;
  wn[LAYERS - 1] = dn / SCALE;
  fn[0] = 1;
  fn[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(AREA / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * SCALE);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / SCALE;
  }
}

/** Standard normal draws from `rng` (consumes its uint32 stream). */
export function gaussian(rng: Rng): number {
  for (;;) {
    const u = rng.nextU32();
    const i = u & (LAYERS - 1);
    const j = (u | 0) >> 7; // signed, in [-2^24, 2^24)
    // Inside the layer's rectangle: accept at once (~99% of draws).
    if (Math.abs(j) < kn[i]) return j * wn[i];
    const x = j * wn[i];
    if (i === 0) {
      // The tail beyond R (Marsaglia 1964).
      let tx: number;
      let ty: number;
      do {
        tx = -Math.log(rng.next()) / R;
        ty = -Math.log(rng.next());
      } while (ty + ty < tx * tx);
      return j > 0 ? R + tx : -R - tx;
    }
    // The wedge between the rectangle and the curve.
    if (fn[i] + rng.next() * (fn[i - 1] - fn[i]) < Math.exp(-0.5 * x * x)) return x;
  }
}
