/** Numeric code runs in float32; gradient checks run the same code in float64. */
export type FloatArray = Float32Array | Float64Array;
export type FloatArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor;
export type Dtype = 'float32' | 'float64';

export function floatArrayOf(dtype: Dtype): FloatArrayConstructor {
  return dtype === 'float64' ? Float64Array : Float32Array;
}
