export { StatementTracer, type StatementSpan, type StatementSpanEnd, type StatementSpanStart } from './tracer.ts';
export { tracingSchema, type TracingConfig } from './schema.ts';
