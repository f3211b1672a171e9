export { Rng, permutation } from './rng.js';
export { median } from './stats.js';
export { type FloatArray, type FloatArrayConstructor, type Dtype, floatArrayOf } from './float.js';
export { plural } from './plural.js';
export { flagOf } from './flag-name.js';
export { formatLoss } from './format-loss.js';
export { definedFields, firstNonFinite } from './defined.js';
