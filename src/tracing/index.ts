export { StatementTracer, type StatementSpan, type StatementSpanEnd, type StatementSpanStart, type StageSpanTimes } from './tracer.ts';
export { tracingSchema, type TracingConfig } from './schema.ts';
