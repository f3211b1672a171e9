export {
  type TensorDtype,
  type TensorData,
  type Tensor,
  type DecodeOptions,
  type DecodedSafetensors,
  safetensorsDefaults,
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  loadSafetensors,
} from './safetensors.js';
export { writeFileAtomic } from './atomic-write.js';
