/**
 * How image pixels become sample values, in one place for every reader of uint8 images: the
 * `mnist` and `idx:` loaders, `dptrain predict`'s IDX input, and fitting a dataset to a model
 * (evaluate, train's --test), which rescales image data to the scale the model file records.
 */
import { sampleArray, type Dataset, type PixelScale } from './dataset.js';

/** An `idx:` file's pixels, and predict's for a model that records no scale: byte / 255, not rounded. */
export const IDX_PIXEL_SCALE: PixelScale = Object.freeze({ divideBy: 255 });

/** A scale as a model file records it (roundTo null when not rounded) or as a Dataset carries it. */
export type RecordedPixelScale = { readonly divideBy: number; readonly roundTo?: number | null };

/** The value of each byte 0…255: byte / divideBy, rounded to roundTo decimals when set. */
export function pixelValues(scale: RecordedPixelScale): Float32Array {
  const { divideBy, roundTo } = scale;
  return new Float32Array(256).map((_, k) => (roundTo == null ? k / divideBy : Math.round((k * 10 ** roundTo) / divideBy) / 10 ** roundTo));
}

function sameScale(a: RecordedPixelScale, b: RecordedPixelScale): boolean {
  return a.divideBy === b.divideBy && (a.roundTo ?? null) === (b.roundTo ?? null);
}

/**
 * Image data with its pixels as `scale` makes them: each value goes back to its byte (by the
 * data's own pixelScale) and becomes that byte's value under `scale`, so that a model sees from a
 * file the values it was trained on, as predict gives them. Data without a pixelScale (CSV rows),
 * or already at `scale`, is returned as it is; so is data holding a value no byte gives under its
 * own scale (an in-memory Dataset changed after loading), which is told through `onWarning`.
 */
export function rescalePixels(data: Dataset, scale: RecordedPixelScale, onWarning?: (message: string) => void): Dataset {
  const from = data.pixelScale;
  if (from === undefined || sameScale(from, scale)) return data;
  const byteOf = new Map<number, number>();
  pixelValues(from).forEach((value, k) => {
    if (!byteOf.has(value)) byteOf.set(value, k);
  });
  const to = pixelValues(scale);
  const x = sampleArray(data.x.length);
  for (let i = 0; i < x.length; i++) {
    const k = byteOf.get(data.x[i]);
    if (k === undefined) {
      onWarning?.(`dataset ${data.spec}: value ${data.x[i]} (row ${Math.floor(i / data.inputDim)}) is no pixel byte / ${from.divideBy}${from.roundTo != null ? ` rounded to ${from.roundTo} decimals` : ''}, so its pixels are used as given, not rescaled to the model's`);
      return data;
    }
    x[i] = to[k];
  }
  const pixelScale: PixelScale = Object.freeze(scale.roundTo == null ? { divideBy: scale.divideBy } : { divideBy: scale.divideBy, roundTo: scale.roundTo });
  return Object.freeze({ ...data, x, pixelScale });
}
