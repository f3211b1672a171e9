/** The live dashboard (`--dashboard`, docs/dashboard.md). This file is the folder's whole surface. */
export { startDashboard, dashboardsStarted, type Dashboard, type DashboardOptions } from './start.js';
export { parseDashboardAddress, dashboardKey, type DashboardAddress } from './address.js';
export { DashboardHub, hubLimits, type ChartSpec, type DashboardSnapshot, type DashboardDelta, type Progress, type RosterRow, type SweepRow, type TimelineStep } from './hub.js';
export { BoundedSeries, seriesLimits, type SeriesPoints } from './series.js';
export { DashboardServer, dashboardDefaults, CONTENT_SECURITY_POLICY } from './server.js';
export { TrainFeed, RUN_CHARTS } from './train-feed.js';
export { CoordinatorFeed } from './coordinator-feed.js';
export { SweepFeed, SWEEP_CHART } from './sweep-feed.js';
