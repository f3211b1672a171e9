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
  describeContent,
  SafetensorsFile,
  type SafetensorsHeader,
  type TensorEntry,
} from './safetensors.js';
export { writeFileAtomic } from './atomic-write.js';
export { makeOutputDir, outputFileProblem, replacedFileProblem, sameFile } from './output-dir.js';
export { ABOUT_KEY, ABOUT_VERSION, encodeModelAbout, decodeModelAbout, type ModelAbout } from './model-about.js';
