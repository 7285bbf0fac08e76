export { computeMetrics, metricsLine } from './metrics';
export type { ClassificationMetrics, ClassMetrics, AveragedMetrics, ConfusedPair, ComputeMetricsInput } from './metrics';
export { confusionHeatmapSvg, historySvg, predictionGridPng, svgToPng, viridis, escapeXml } from './render';
export type { HeatmapOptions, HistoryInput, GridImage } from './render';
export { writeReport, reportMarkdown } from './write-report';
export type { ReportInput, ReportFiles } from './write-report';
