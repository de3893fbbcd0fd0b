/**
 * One session's side of the audit log: a write-ahead record for every statement the session is
 * about to forward (the session writes nothing upstream until `takePending()` has settled), a
 * record of every refusal, and each statement's outcome — command tags, rows, error, and the
 * first rows of its result as the client saw them — followed through the response stream.
 */
import type { GatewayError } from '../errors.ts';
import { BE, decodeCommandComplete, decodeFields, decodeRowDescription } from '../protocol/index.ts';
import { rowsOfTag, type StatementAudit } from './audit-port.ts';
import type { VerdictInfo } from './session.ts';
import type { PortalFacts } from './wire-facts.ts';

/** One audited statement, followed until its outcome is known. */
export interface AuditEntry {
  id: Promise<string>;
  kind: 'query' | 'execute';
  started: number;
  tags: string[];
  error?: { sqlstate: string; message: string };
  capture?: { columns: string[]; rows: (string | null)[][]; truncated: boolean };
}

/** The audited statements of one request cycle (up to ReadyForQuery), in order. */
export interface AuditedCycle {
  audits: AuditEntry[];
  auditPos: number;
}

/** A DataRow's cells as text (binary-looking cells as `base64:…`), for the audit's capture. */
function captureCells(frame: Buffer): (string | null)[] {
  const n = frame.readInt16BE(5);
  const out: (string | null)[] = [];
  let pos = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(pos);
    pos += 4;
    if (len < 0) out.push(null);
    else {
      const cell = frame.subarray(pos, pos + len);
      const text = cell.toString('utf8');
      out.push(/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text) ? `base64:${cell.toString('base64')}` : text);
      pos += len;
    }
  }
  return out;
}

export class AuditFollower {
  /** Write-ahead records not yet durable. */
  private pending: Promise<string>[] = [];

  constructor(
    private readonly audit: StatementAudit,
    /** Rows kept per statement (0: no capture). */
    private readonly captureRows: number,
  ) {}

  get capturing(): boolean {
    return this.captureRows > 0;
  }

  /**
   * True while the statement being answered in `cycle` still has rows to capture (and one more,
   * to tell that the capture was cut). Past that, the session lets its rows pass unread.
   */
  wantsRows(cycle: AuditedCycle | undefined): boolean {
    if (this.captureRows === 0 || !cycle) return false;
    const e = cycle.audits[cycle.auditPos];
    return e !== undefined && !e.capture?.truncated;
  }

  /** Record a statement about to be forwarded (the exact bytes) and start following it. */
  begin(kind: 'query' | 'execute', info: VerdictInfo | undefined, bytes: Buffer[], params?: (string | null)[]): AuditEntry {
    const id = this.audit.begin({
      kind,
      text: info?.text ?? '',
      bytes,
      params,
      decision: { verdict: 'allow', rule: info?.rule, reviewId: info?.reviewId },
      analysis: info?.analysis,
    });
    this.pending.push(id);
    return { id, kind, started: Date.now(), tags: [] };
  }

  /** A Bind forwarded: kept on the portal's record (its facts) for the record of its Executes. */
  bind(portal: PortalFacts, frame: Buffer, params: (string | null)[]): void {
    portal.bound = { bytes: frame, params };
  }

  /**
   * An Execute of a portal (its record's facts, from the gate): recorded with the Bind that made
   * the portal and its parameters. A cursor (DECLARE) has no Bind: the Execute alone.
   */
  execute(portal: PortalFacts | undefined, info: VerdictInfo | undefined, frame: Buffer): AuditEntry {
    const b = portal?.bound;
    return this.begin('execute', info, b ? [b.bytes, frame] : [frame], b?.params);
  }

  refused(kind: 'query' | 'parse' | 'execute' | 'function_call', err: GatewayError, info: VerdictInfo | undefined, frame: Buffer): void {
    this.audit.refused({
      kind,
      text: info?.text ?? '',
      bytes: [frame],
      decision: { verdict: 'deny', rule: info?.rule, message: err.message, reviewId: info?.reviewId },
      analysis: info?.analysis,
    });
  }

  /**
   * A statement held for review, recorded while it waits (verdict `review`, with the review id):
   * it is listed among the session's statements and found by search before anyone decides. When
   * the review settles, the statement gets a second record, `allow` when it runs or `deny`, with
   * the same review id. Nothing of it is forwarded here.
   */
  held(kind: 'query' | 'execute', info: VerdictInfo, frame: Buffer, params: (string | null)[], portal?: PortalFacts): void {
    // A held Bind is not forwarded yet (it is kept back with the Execute): its parameters come from the gate.
    const b = kind === 'execute' ? portal?.bound : undefined;
    this.audit.refused({
      kind,
      text: info.text,
      bytes: b ? [b.bytes, frame] : [frame],
      params: b?.params ?? (kind === 'execute' ? params : undefined),
      decision: { verdict: 'review', rule: info.rule, message: `held for review ${info.reviewId ?? ''}; waiting for approval, not run yet`, reviewId: info.reviewId },
      analysis: info.analysis,
    });
  }

  /** The records to wait for before writing upstream, or null when none is pending. */
  takePending(): Promise<unknown> | null {
    if (this.pending.length === 0) return null;
    const all = Promise.all(this.pending);
    this.pending = [];
    return all;
  }

  /** Follow outcomes: CommandComplete and friends close the current audited statement. */
  response(tag: number, frame: Buffer, cycle: AuditedCycle): void {
    const e = cycle.audits[cycle.auditPos];
    switch (tag) {
      case BE.RowDescription:
        if (e && this.captureRows > 0) e.capture = { columns: decodeRowDescription(frame).map((f) => f.name), rows: e.capture?.rows ?? [], truncated: false };
        return;
      case BE.DataRow:
        if (e && this.captureRows > 0) {
          e.capture ??= { columns: [], rows: [], truncated: false };
          if (e.capture.rows.length < this.captureRows) e.capture.rows.push(captureCells(frame));
          else e.capture.truncated = true;
        }
        return;
      case BE.CommandComplete:
      case BE.EmptyQueryResponse:
      case BE.PortalSuspended:
        if (!e) return;
        e.tags.push(tag === BE.CommandComplete ? decodeCommandComplete(frame) : tag === BE.PortalSuspended ? 'SUSPENDED' : 'EMPTY');
        if (e.kind === 'execute') {
          this.end(e);
          cycle.auditPos++;
        }
        return;
      case BE.ErrorResponse: {
        if (!e) return;
        const f = decodeFields(frame);
        e.error = { sqlstate: f.C ?? '', message: f.M ?? '' };
        this.end(e);
        cycle.auditPos++;
        return;
      }
      case BE.ReadyForQuery:
        // Whatever is left of the cycle: a simple Query's record ends here; Executes after a
        // failure in their batch never ran.
        for (let i = cycle.auditPos; i < cycle.audits.length; i++) {
          const rest = cycle.audits[i];
          this.end(rest, rest.kind === 'execute');
        }
        cycle.auditPos = cycle.audits.length;
        return;
    }
  }

  /** A cycle the server skipped whole (an error before its Query, see Session.serverSkipsToSync): what is left of it never ran. */
  skipped(cycle: AuditedCycle): void {
    for (let i = cycle.auditPos; i < cycle.audits.length; i++) this.end(cycle.audits[i], true);
    cycle.auditPos = cycle.audits.length;
  }

  private end(e: AuditEntry, skipped = false): void {
    const outcome = {
      capture: e.capture,
      durationMs: Date.now() - e.started,
      commandTags: e.tags,
      rows: e.tags.length ? rowsOfTag(e.tags[e.tags.length - 1]) : undefined,
      error: e.error,
      skipped: skipped || undefined,
    };
    e.id.then(
      (id) => this.audit.end(id, outcome),
      () => {},
    );
  }
}
