/** The `tracing:` section: OpenTelemetry spans per statement, exported over OTLP/HTTP. Off when absent. */
import { z } from 'zod';

export const tracingSchema = z
  .object({
    /** OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`. */
    otlp_endpoint: z.string().url(),
    /** Extra request headers (e.g. an API key; use `${env:…}`). */
    headers: z.record(z.string(), z.string()).default({}),
    service_name: z.string().min(1).default('pgwarden'),
    /** Fraction of statements traced (by trace id). */
    sample_ratio: z.number().min(0).max(1).default(1),
  })
  .strict();

export type TracingConfig = z.infer<typeof tracingSchema>;
