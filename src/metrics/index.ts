export { GatewayMetrics, type MetricSources, type MetricsOptions, type StatementDecision } from './metrics.ts';
export { metricsSchema, type MetricsConfig } from './schema.ts';
