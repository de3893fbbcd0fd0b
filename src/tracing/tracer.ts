/**
 * OpenTelemetry spans per statement, exported over OTLP/HTTP (JSON) when `tracing` is configured;
 * when it is not, nothing of this module runs (the ports are not wrapped).
 *
 * One span per audited statement (`pgwarden.statement`), from its write-ahead record to its
 * outcome (the pipeline's stages are not child spans yet: the engine's stage clock sums time per
 * gateway, not per statement). Attributes
 * name the decision, the rule, the audit record id, the command and the database; never the
 * statement text, a parameter or a value.
 */
import { SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from './schema.ts';

export interface StatementSpanStart {
  sessionId: string;
  database: string;
  subject: string;
  issuer: string;
  decision: 'allow' | 'deny' | 'review';
  rule?: string;
  reviewId?: string;
  command?: string;
  kind: string;
  /** Epoch ms the statement arrived (default now). */
  at?: number;
}

export interface StatementSpanEnd {
  recordId?: string;
  rows?: number;
  sqlstate?: string;
  commandTags?: string[];
}

export interface StatementSpan {
  recordId(id: string): void;
  end(o: StatementSpanEnd): void;
}

export class StatementTracer {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;

  constructor(cfg: TracingConfig, version: string) {
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': cfg.service_name, 'service.version': version }),
      sampler: new TraceIdRatioBasedSampler(cfg.sample_ratio),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: cfg.otlp_endpoint, headers: cfg.headers }), { scheduledDelayMillis: 1000 })],
    });
    this.#tracer = this.#provider.getTracer('pgwarden', version);
  }

  statement(s: StatementSpanStart): StatementSpan {
    const span = this.#tracer.startSpan(
      'pgwarden.statement',
      {
        kind: SpanKind.SERVER,
        startTime: s.at,
        attributes: {
          'db.system.name': 'postgresql',
          'db.namespace': s.database,
          ...(s.command ? { 'db.operation.name': s.command.toUpperCase() } : {}),
          'enduser.id': s.subject,
          'pgwarden.identity.issuer': s.issuer,
          'pgwarden.session_id': s.sessionId,
          'pgwarden.message': s.kind,
          'pgwarden.decision': s.decision,
          ...(s.rule ? { 'pgwarden.rule': s.rule } : {}),
          ...(s.reviewId ? { 'pgwarden.review_id': s.reviewId } : {}),
        },
      },
    );
    let ended = false;
    return {
      recordId: (id) => span.setAttribute('pgwarden.audit.record_id', id),
      end: (o) => {
        if (ended) return;
        ended = true;
        endSpan(span, s.decision, o);
      },
    };
  }

  /** Export what is buffered (tests, shutdown). */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  close(): Promise<void> {
    return this.#provider.shutdown();
  }
}

function endSpan(span: Span, decision: string, o: StatementSpanEnd): void {
  if (o.recordId) span.setAttribute('pgwarden.audit.record_id', o.recordId);
  if (o.rows !== undefined) span.setAttribute('db.response.returned_rows', o.rows);
  if (o.commandTags?.length) span.setAttribute('pgwarden.command_tags', o.commandTags.map((t) => t.replace(/\s.*$/, '')));
  if (o.sqlstate) {
    span.setAttribute('db.response.status_code', o.sqlstate);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `SQLSTATE ${o.sqlstate}` });
  } else if (decision === 'deny') {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'refused by the gateway' });
  }
  span.end();
}
