/**
 * OpenTelemetry spans per statement, exported over OTLP/HTTP (JSON) when `tracing` is configured;
 * when it is not, nothing of this module runs (the ports are not wrapped).
 *
 * One span per audited statement (`pgwarden.statement`), from the moment the gateway takes it up
 * to its outcome, with a child span per pipeline stage it went through (`pgwarden.analyse`,
 * `pgwarden.decide`, `pgwarden.review`, `pgwarden.audit`, `pgwarden.forward`, `pgwarden.result`;
 * what each covers is in engine/observed.ts). Attributes name the decision, the rule, the audit
 * record id, the command and the database, and a stage's name and busy time; never the statement
 * text, a parameter or a value.
 *
 * Times come in as `performance.now()` milliseconds and are turned into epoch time with one
 * offset (`performance.timeOrigin`), so a statement's children lie within it exactly (the SDK's
 * own conversion takes a new offset per span, off by up to a millisecond between spans).
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
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
  /** When the gateway took the statement up, `performance.now()` ms (default now). */
  at?: number;
}

/** A stage of a statement, as a child span of its span (times in `performance.now()` ms). */
export interface StageSpanTimes {
  stage: 'analyse' | 'decide' | 'review' | 'audit' | 'forward' | 'result';
  start: number;
  end: number;
  busyMs?: number;
  maskMs?: number;
}

/** The `pgwarden.stage` attribute: the stage's name in the engine's list (engine/pipeline.ts, STAGES). */
const STAGE_NAMES: Record<StageSpanTimes['stage'], string> = {
  analyse: 'analyse',
  decide: 'decide',
  review: 'review',
  audit: 'audit',
  forward: 'forward',
  result: 'track result',
};

export interface StatementSpanEnd {
  recordId?: string;
  rows?: number;
  sqlstate?: string;
  commandTags?: string[];
}

export interface StatementSpan {
  recordId(id: string): void;
  /** `at`: when it ended, `performance.now()` ms (default now); `stages`: its child spans. */
  end(o: StatementSpanEnd, at?: number, stages?: readonly StageSpanTimes[]): void;
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
        startTime: s.at === undefined ? undefined : hrTime(s.at),
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
      end: (o, at, stages) => {
        if (ended) return;
        ended = true;
        // Unsampled: the span records nothing, and neither would its children.
        if (stages && stages.length > 0 && span.isRecording()) this.#stages(span, stages);
        endSpan(span, s.decision, o, at === undefined ? undefined : hrTime(at));
      },
    };
  }

  #stages(parent: Span, stages: readonly StageSpanTimes[]): void {
    const context = trace.setSpan(ROOT_CONTEXT, parent);
    for (const st of stages) {
      const child = this.#tracer.startSpan(
        `pgwarden.${st.stage}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: hrTime(st.start),
          attributes: {
            'pgwarden.stage': STAGE_NAMES[st.stage],
            ...(st.busyMs === undefined ? {} : { 'pgwarden.stage.busy_ms': round3(st.busyMs) }),
            ...(st.maskMs === undefined ? {} : { 'pgwarden.stage.mask_ms': round3(st.maskMs) }),
          },
        },
        context,
      );
      child.end(hrTime(st.end));
    }
  }

  /** Export what is buffered (tests, shutdown). */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  close(): Promise<void> {
    return this.#provider.shutdown();
  }
}

const ORIGIN_MS = performance.timeOrigin;

/** A `performance.now()` time as epoch seconds and nanoseconds, all with the same offset. */
function hrTime(at: number): HrTime {
  const ms = ORIGIN_MS + at;
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(Math.round((ms - seconds * 1000) * 1e6), 999_999_999);
  return [seconds, nanos];
}

/** Milliseconds to the microsecond. */
function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function endSpan(span: Span, decision: string, o: StatementSpanEnd, at: HrTime | undefined): void {
  if (o.recordId) span.setAttribute('pgwarden.audit.record_id', o.recordId);
  if (o.rows !== undefined) span.setAttribute('db.response.returned_rows', o.rows);
  if (o.commandTags?.length) span.setAttribute('pgwarden.command_tags', o.commandTags.map((t) => t.replace(/\s.*$/, '')));
  if (o.sqlstate) {
    span.setAttribute('db.response.status_code', o.sqlstate);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `SQLSTATE ${o.sqlstate}` });
  } else if (decision === 'deny') {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'refused by the gateway' });
  }
  span.end(at);
}
