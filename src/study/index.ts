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
export { sweep } from './sweep.js';
export { parseTarget, meetsTarget, type Target, type TargetMetric } from './sweep-target.js';
export { resolveSweepOptions, TARGET_CHECK, targetCheck, type SweepOptions, type ResolvedSweepOptions } from './sweep-options.js';
export { sweepLrRules, SWEEP_DEFAULTS, type SweepLrRule } from './sweep-defaults.js';
export { planRuns, lrGrid, evalInterval, type PlannedRun } from './sweep-plan.js';
export { summarize } from './sweep-summary.js';
export { resultsCsv } from './sweep-files.js';
export { describeOutcome } from './sweep-outcome.js';
export {
  type SweepHooks,
  type SweepResults,
  type BatchSizeResult,
  type RunOutcome,
  type RunStatus,
  type StoppedBy,
  type GnsSetup,
} from './sweep-types.js';
export { readRunMetrics, type RunMetrics, type CurvePoint, type GnsPoint, type Checkpoint } from './metrics.js';
export { writeTimelineTrace } from './trace.js';
export { TimelineCollector, timelineCharts, timelineSummary, type RunTimeline, type CommPoint, type TimelineStep } from './timeline.js';
export { writeReport, buildReportPage, renderHtml } from './report.js';
export { alignTraces, type ReportPage, type ChartDef, type ChartHeading, type ChartSeries, type SeriesStyle } from './report-page.js';
export { uplotAssets, CHART_CSS, CHART_SCRIPT } from './charts.js';
