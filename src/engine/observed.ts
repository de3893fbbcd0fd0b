/**
 * The session's audit and masking ports, counted: each statement by its decision, each result
 * sent with masked columns. Wrapped by the composition root around the real ports, so counting
 * needs no change to the pipeline and costs one call per statement.
 */
import type { AuditedStatement, StatementAudit } from './audit-port.ts';
import type { MaskingPort } from './results.ts';

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
  end(o: { recordId?: string; rows?: number; sqlstate?: string; commandTags?: string[] }): void;
}

/**
 * The audit port, traced: a span from each statement's write-ahead record to its outcome, and one
 * for each refusal. Wrapped only when tracing is configured.
 */
export function tracedAudit(port: StatementAudit, start: (s: AuditedStatement, decision: 'allow' | 'deny' | 'review') => StatementSpanLike): StatementAudit {
  const open = new Map<string, StatementSpanLike>();
  return {
    begin(s) {
      const span = start(s, s.decision.reviewId === undefined ? 'allow' : 'review');
      const id = port.begin(s);
      id.then(
        (recordId) => {
          span.recordId(recordId);
          open.set(recordId, span);
        },
        () => span.end({ sqlstate: '58000' }),
      );
      return id;
    },
    refused(s) {
      start(s, 'deny').end({});
      port.refused(s);
    },
    end(id, o) {
      const span = open.get(id);
      if (span) {
        open.delete(id);
        span.end({ rows: o.rows, sqlstate: o.error?.sqlstate, commandTags: o.commandTags });
      }
      port.end(id, o);
    },
  };
}
