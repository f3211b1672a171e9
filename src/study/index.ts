/** src/study: batch-size sweeps, the gradient noise scale, the scaling fit and the HTML report. This file is the folder's whole surface. */
export { gnsEstimate, GnsTracker, DEFAULT_GNS_BETA, type ShardGradient, type GnsEstimate, type GnsRecord } from '../train/gns.js';
export {
  shardGradientSums,
  evenShardSizes,
  measureNoiseScale,
  exactGradientStats,
  batchGradientError,
  type Rows,
  type ShardSums,
  type NoiseScaleOptions,
  type NoiseScaleMeasurement,
  type ExactGradientStats,
  type BatchGradientError,
} from './noise.js';
export {
  fitScaling,
  predictSteps,
  classifyRegime,
  scalingEfficiency,
  REGIME_BOUNDS,
  FIT_METHOD,
  type ScalingPoint,
  type ScalingFit,
  type Regime,
} from './fit.js';
export {
  sweep,
  parseTarget,
  meetsTarget,
  resolveSweepOptions,
  planRuns,
  lrGrid,
  summarize,
  resultsCsv,
  describeOutcome,
  sweepLrRules,
  SWEEP_DEFAULTS,
  TARGET_CHECK,
  targetCheck,
  evalInterval,
  type SweepOptions,
  type ResolvedSweepOptions,
  type SweepHooks,
  type SweepResults,
  type SweepLrRule,
  type BatchSizeResult,
  type RunOutcome,
  type RunStatus,
  type GnsSetup,
  type PlannedRun,
  type Target,
  type TargetMetric,
} from './sweep.js';
export { readRunMetrics, type RunMetrics, type CurvePoint, type GnsPoint, type Checkpoint } from './metrics.js';
export { writeTimelineTrace } from './trace.js';
export { TimelineCollector, timelineCharts, timelineSummary, type RunTimeline, type CommPoint, type TimelineStep } from './timeline.js';
export {
  writeReport,
  buildReportPage,
  renderHtml,
  alignTraces,
  type ReportPage,
  type ChartDef,
  type ChartSeries,
  type SeriesStyle,
} from './report.js';
export { uplotAssets, CHART_CSS, CHART_SCRIPT } from './charts.js';
