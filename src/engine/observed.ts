/**
 * The session's audit and masking ports, counted: each statement by its decision, each result
 * sent with masked columns. Wrapped by the composition root around the real ports, so counting
 * needs no change to the pipeline and costs one call per statement.
 */
import type { AuditedStatement, StatementAudit } from './audit-port.ts';
import type { MaskingPort } from './results.ts';
import type { InFlight, StageTimes, StatementStages } from './statement-stages.ts';

export interface StatementCounter {
  /** `review`: forwarded after an approver allowed it; `rule`: the rule that refused it. */
  statement(decision: 'allow' | 'deny' | 'review', rule?: string, subject?: string): void;
  resultMasked(): void;
}

export function observedAudit(port: StatementAudit, counter: StatementCounter, subject: string): StatementAudit {
  return {
    begin(s) {
      counter.statement(s.decision.reviewId === undefined ? 'allow' : 'review', '', subject);
      return port.begin(s);
    },
    refused(s) {
      counter.statement('deny', s.decision.rule ?? '', subject);
      port.refused(s);
    },
    end: (id, o) => port.end(id, o),
  };
}

export function observedMasking(port: MaskingPort, counter: StatementCounter): MaskingPort {
  return {
    plan(fields, outputs, formats) {
      const p = port.plan(fields, outputs, formats);
      if (p !== null) counter.resultMasked();
      return p;
    },
    copyPlan(outputs, binary) {
      const p = port.copyPlan(outputs, binary);
      if (p !== null) counter.resultMasked();
      return p;
    },
    scrub: (frame) => port.scrub(frame),
  };
}

/** A span per statement, as the tracing part makes them (see src/tracing). */
export interface StatementSpanLike {
  recordId(id: string): void;
  /** `at`: when it ended; `stages`: its child spans (times in `performance.now()` milliseconds). */
  end(o: { recordId?: string; rows?: number; sqlstate?: string; commandTags?: string[] }, at: number, stages: readonly StageTimes[]): void;
}

/** The child span of an audit log call: from the call to `end`, `busyMs` the call's own time. */
function auditStage(start: number, called: number, end: number): StageTimes {
  return { stage: 'audit', start, end, busyMs: called - start };
}

/**
 * The audit port, traced: a span per statement, with the stages it went through (`stages`, the
 * session's clock) as child spans. Wrapped only when tracing is configured.
 *
 * The span starts when the statement's first message is taken up (its analysis, or its decision)
 * and ends at its outcome. Its children: analyse, decide and review (see StatementStages); audit,
 * from the write-ahead record being handed to the audit log to its being durable (busy: building
 * and queueing it); forward, from then (the bytes go upstream once their records are durable) to
 * the first read from the server after it; result, from that read to the outcome (result
 * tracking, masking, relaying and the outcome's record). A refusal's span ends once its record is
 * queued (its audit child is that call); a statement held for review has no span of its own: the
 * wait is the review child of the statement's span once it is decided again.
 */
export function tracedAudit(port: StatementAudit, stages: StatementStages, start: (s: AuditedStatement, decision: 'allow' | 'deny' | 'review', at: number) => StatementSpanLike): StatementAudit {
  const open = new Map<string, { span: StatementSpanLike; stages: StageTimes[]; flight: InFlight }>();
  return {
    begin(s) {
      const t0 = performance.now();
      const taken = stages.take(t0);
      const span = start(s, s.decision.reviewId === undefined ? 'allow' : 'review', taken.start);
      const id = port.begin(s);
      const audit = auditStage(t0, performance.now(), Number.NaN);
      taken.stages.push(audit);
      id.then(
        (recordId) => {
          audit.end = performance.now();
          span.recordId(recordId);
          open.set(recordId, { span, stages: taken.stages, flight: stages.forwarded(audit.end) });
        },
        () => {
          audit.end = performance.now();
          span.end({ sqlstate: '58000' }, audit.end, taken.stages);
        },
      );
      return id;
    },
    refused(s) {
      const t0 = performance.now();
      if (s.decision.verdict === 'review') {
        stages.held(t0);
        port.refused(s);
        return;
      }
      const taken = stages.take(t0);
      const span = start(s, 'deny', taken.start);
      port.refused(s);
      const t1 = performance.now();
      taken.stages.push(auditStage(t0, t1, t1));
      span.end({}, t1, taken.stages);
    },
    end(id, o) {
      const entry = open.get(id);
      if (entry) {
        open.delete(id);
        const t = performance.now();
        stages.completed(entry.flight, t, entry.stages);
        entry.span.end({ rows: o.rows, sqlstate: o.error?.sqlstate, commandTags: o.commandTags }, t, entry.stages);
      }
      port.end(id, o);
    },
  };
}
