/**
 * The layer kernels beyond dense layers (conv.ts, elementwise.ts, norm.ts) as one group of a kernel set.
 * Every set has them; the wasm set runs these js functions on views of its memory, while its
 * GEMMs (which carry a convolution's arithmetic) run natively.
 */
import {
  avgPoolHwcBackward,
  avgPoolHwcForward,
  chwToHwc,
  col2imHwc,
  convGradFromKkcAcc,
  convWeightToKkc,
  globalAvgPoolHwcBackward,
  globalAvgPoolHwcForward,
  hwcToChw,
  im2colHwc,
  maxPoolHwcBackward,
  maxPoolHwcForward,
  pooledConvGradAcc,
} from './conv.js';
import { dropoutMask, geluBackward, geluForward, multiplyInPlace } from './elementwise.js';
import { layerNormBackward, layerNormForward } from './norm.js';

/** The conv, pooling, layout, GELU and dropout functions of a kernel set (shapes in conv.ts and elementwise.ts). */
export interface ConvKernels {
  im2colHwc: typeof im2colHwc;
  col2imHwc: typeof col2imHwc;
  convWeightToKkc: typeof convWeightToKkc;
  convGradFromKkcAcc: typeof convGradFromKkcAcc;
  maxPoolHwcForward: typeof maxPoolHwcForward;
  maxPoolHwcBackward: typeof maxPoolHwcBackward;
  pooledConvGradAcc: typeof pooledConvGradAcc;
  avgPoolHwcForward: typeof avgPoolHwcForward;
  avgPoolHwcBackward: typeof avgPoolHwcBackward;
  globalAvgPoolHwcForward: typeof globalAvgPoolHwcForward;
  globalAvgPoolHwcBackward: typeof globalAvgPoolHwcBackward;
  hwcToChw: typeof hwcToChw;
  chwToHwc: typeof chwToHwc;
  geluForward: typeof geluForward;
  geluBackward: typeof geluBackward;
  dropoutMask: typeof dropoutMask;
  multiplyInPlace: typeof multiplyInPlace;
  layerNormForward: typeof layerNormForward;
  layerNormBackward: typeof layerNormBackward;
}

/** The js implementations (the reference). */
export const convKernels: ConvKernels = Object.freeze({
  im2colHwc,
  col2imHwc,
  convWeightToKkc,
  convGradFromKkcAcc,
  maxPoolHwcForward,
  maxPoolHwcBackward,
  pooledConvGradAcc,
  avgPoolHwcForward,
  avgPoolHwcBackward,
  globalAvgPoolHwcForward,
  globalAvgPoolHwcBackward,
  hwcToChw,
  chwToHwc,
  geluForward,
  geluBackward,
  dropoutMask,
  multiplyInPlace,
  layerNormForward,
  layerNormBackward,
});
