/** src/inference: using a trained model (evaluate, predict, the model object). This file is the folder's whole surface. */
export {
  TrainedModel,
  type PredictInput,
  type Predictions,
  type EvaluateOptions,
  type Evaluation,
  type EvaluationPart,
} from './trained-model.js';
export { fitDataToModel, pixelScaleOf, standardizationOf, listNames, type ModelShape } from './matching.js';
export {
  classificationMetrics,
  regressionMetrics,
  softmaxRows,
  argmaxRow,
  type ClassMetrics,
  type ClassificationMetrics,
  type RegressionMetrics,
  type OutputMetrics,
  type EvaluationMetrics,
} from './metrics.js';
export { evaluationText, evaluationHtml } from './evaluation-report.js';
export { predictStream, type PredictStreamOptions, type PredictSummary, type OnBadRow } from './predict-stream.js';
export { CsvRecordSplitter, type CsvRecord } from './csv-records.js';
export { csvField, float32Text } from './csv-output.js';
