export { GatewayMetrics, type MetricSources, type MetricsOptions, type StatementDecision } from './metrics.ts';
export { createMetricsApp, metricsRoutes } from './routes.ts';
export { metricsSchema, type MetricsConfig } from './schema.ts';
