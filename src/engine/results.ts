/**
 * Following result sets through the response stream, for sessions whose identity has columns to
 * mask. Every message the session forwards upstream pushes the responses it will produce onto a
 * queue (`units`); every response message the upstream sends is matched against the head of that
 * queue, in order, as PostgreSQL guarantees. That is how a DataRow is known to belong to a
 * particular statement or portal, and so which of its cells to mask.
 *
 * Where the rows of a portal come from a statement the client never described, the session sends
 * a Describe of the portal itself (`needsDescribe`) and the tracker swallows the answer, so a
 * plan is always built from the server's own RowDescription (table OID and attribute number of
 * each column) together with the statement's output provenance.
 *
 * Sessions without masking never use this: their responses stream through untouched.
 */
import { BE, decodeRowDescription, type ByteSink, type FieldDescription, type StreamScanner } from '../protocol/index.ts';
import type { OutputColumn } from '../sql/types.ts';
import type { PortalFacts, StatementFacts } from './wire-facts.ts';

/** Where a result set's rows come from, as far as the analysis knows. */
export interface ResultShape {
  outputs?: readonly OutputColumn[];
  /** The relations the statement reads (masking's fail-closed fallback looks at them). */
  relations: readonly { schema: string; name: string }[];
  /** COPY … TO STDOUT: its format and options. */
  copy?: CopyFormat;
  /**
   * The statement writes and has no RETURNING: rows it returns come from rules of the written
   * relations (`DO ALSO SELECT …`), which may read any relation.
   */
  writes?: true;
}

export interface CopyFormat {
  format: 'text' | 'csv' | 'binary';
  delimiter?: string;
  null?: string;
  quote?: string;
  escape?: string;
  header?: boolean;
}

export type Outputs = ResultShape | undefined;

/** What masking provides to the tracker (built by the session from the masking part). */
export interface MaskingPort {
  /** A plan for a result set; `null` when no cell of it needs masking. */
  plan(fields: FieldDescription[], outputs: Outputs, formats: number[]): RowPlan | null;
  /** A plan for COPY … TO STDOUT rows (`binary`: the server says the copy is in binary format). */
  copyPlan(outputs: Outputs, binary: boolean): RowPlan | null;
  /** Rewrite an ErrorResponse / NoticeResponse that may echo sensitive values; null: untouched. */
  scrub(frame: Buffer): Buffer | null;
}

export interface RowPlan {
  row(frame: Buffer): Buffer;
  /** `row`, written into the session's output (no buffer per row); absent: `row` is used. */
  rowTo?(frame: Buffer, sink: ByteSink): void;
  /** `rowTo` of the row `src[start, end)` (no view of it is made); absent: `rowTo` is used. */
  rowAt?(src: Buffer, start: number, end: number, sink: ByteSink): void;
  copy?(frame: Buffer): Buffer;
  /** At CopyDone: what is still held back (a last row without a newline), as CopyData. */
  finish?(): Buffer;
}

type Unit =
  | { k: 'query'; results: Outputs[]; index: number }
  | { k: 'parse' }
  | { k: 'bind' }
  | { k: 'describe'; statement?: StatementFacts; portal?: PortalFacts; injected: boolean; gotParams: boolean }
  | { k: 'execute'; portal: PortalFacts; outputs: Outputs; planned: boolean }
  | { k: 'close' }
  | { k: 'sync' };

/** Result formats of a Bind applied to described fields (one code = all, none = text). */
function withFormats(fields: FieldDescription[], formats: number[]): FieldDescription[] {
  return fields.map((f, i) => ({ ...f, format: formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : (formats[i] ?? 0) }));
}

/**
 * The tracker keeps no map of names: what it learns of a statement or portal (described fields,
 * result formats) is kept on that name's one ledger record (`StatementFacts`, `PortalFacts`:
 * wire-facts.ts), which the session passes in with each message.
 */
export class ResultTracker {
  private readonly units: Unit[] = [];
  /** Statements whose fields a Describe gave in this cycle (cleared at ReadyForQuery). */
  private described: StatementFacts[] = [];
  /** The plan for the rows streaming now (DataRow or CopyData), if any. */
  private current: RowPlan | null = null;
  private copying = false;
  /** Extended protocol: after an error, the upstream skips everything until Sync. */
  private skipping = false;

  constructor(
    private readonly scanner: StreamScanner,
    private readonly masking: MaskingPort,
  ) {
    const i = scanner.interesting;
    for (const t of [BE.RowDescription, BE.CommandComplete, BE.EmptyQueryResponse, BE.PortalSuspended, BE.ErrorResponse, BE.NoticeResponse, BE.ReadyForQuery]) i[t] = 1;
    for (const t of [BE.ParseComplete, BE.BindComplete, BE.CloseComplete, BE.NoData, BE.ParameterDescription, BE.CopyOutResponse, BE.CopyInResponse, BE.CopyDone]) i[t] = 1;
  }

  // ---- what the session sends -------------------------------------------------------------------

  query(results: Outputs[]): void {
    this.units.push({ k: 'query', results, index: 0 });
  }

  parse(): void {
    this.units.push({ k: 'parse' });
  }

  /** A Bind that made `portal` (its facts, fresh), with its result formats. */
  bind(portal: PortalFacts, formats: number[]): void {
    portal.formats = formats;
    const st = portal.statement;
    if (st?.fields) portal.fields = withFormats(st.fields, formats);
    else if (st?.describing) {
      portal.describing = true;
      st.waiting.push(portal);
    }
    this.units.push({ k: 'bind' });
  }

  /**
   * A Describe of a statement or portal; `facts` are its record's (undefined: the ledger holds no
   * record of the name the server is sure to have; the answer then teaches nothing).
   */
  describe(target: 'S' | 'P', facts: StatementFacts | PortalFacts | undefined, injected = false): void {
    if (target === 'S') {
      const statement = facts as StatementFacts | undefined;
      if (statement) statement.describing = true;
      this.units.push({ k: 'describe', statement, injected, gotParams: false });
    } else {
      const portal = facts as PortalFacts | undefined;
      if (portal) portal.describing = true;
      this.units.push({ k: 'describe', portal, injected, gotParams: false });
    }
  }

  /** Before an Execute: true when the session must first send a Describe of the portal. */
  needsDescribe(portal: PortalFacts): boolean {
    return !portal.fields && !portal.describing;
  }

  /**
   * An Execute of `portal`, whose rows have the provenance `outputs` (the gate's record of what it
   * runs). The unit holds the portal's own record: a later Bind of the same name makes another,
   * so it cannot change how these rows are masked.
   */
  execute(portal: PortalFacts, outputs: Outputs): void {
    this.units.push({ k: 'execute', portal, outputs, planned: false });
    this.prepareNext();
  }

  close(): void {
    this.units.push({ k: 'close' });
  }

  sync(): void {
    this.units.push({ k: 'sync' });
  }

  // ---- what the upstream answers ------------------------------------------------------------------

  /** A message of an interesting type; returns what to send the client (null: nothing). */
  message(tag: number, frame: Buffer): Buffer | null {
    const out = this.dispatch(tag, frame);
    this.prepareNext();
    return out;
  }

  /**
   * A DataRow, written into `sink` as the client gets it: masked cells rewritten on the row's own
   * bytes, a row with nothing to mask pushed as the same bytes.
   */
  rowTo(frame: Buffer, sink: ByteSink): void {
    const plan = this.current;
    if (!plan) sink.push(frame);
    else if (plan.rowTo) plan.rowTo(frame, sink);
    else sink.push(plan.row(frame));
  }

  /** `rowTo` of the row `src[start, end)`. */
  rowAt(src: Buffer, start: number, end: number, sink: ByteSink): void {
    const plan = this.current;
    if (plan?.rowAt) plan.rowAt(src, start, end, sink);
    else this.rowTo(src.subarray(start, end), sink);
  }

  /** True while the rows streaming now have cells to mask (DataRows must then be read). */
  get masksRows(): boolean {
    return this.current !== null;
  }

  private dispatch(tag: number, frame: Buffer): Buffer | null {
    switch (tag) {
      case BE.DataRow:
        return this.current ? this.current.row(frame) : frame;
      case BE.CopyData:
        return this.current?.copy ? this.current.copy(frame) : frame;
      case BE.NoticeResponse:
        return this.masking.scrub(frame) ?? frame;
      case BE.ErrorResponse:
        return this.onError(frame);
      case BE.ReadyForQuery:
        this.skipping = false;
        this.endRows();
        // Descriptions of statements are trusted within one cycle only: the server plans a
        // statement again when what it depends on changed (search_path, a table altered).
        for (const st of this.described) st.fields = undefined;
        this.described = [];
        while (this.units.length > 0) {
          const u = this.units.shift()!;
          this.dropped(u);
          if (u.k === 'sync' || u.k === 'query') break;
        }
        return frame;
      default:
        return this.onControl(tag, frame);
    }
  }

  private head(): Unit | undefined {
    return this.units[0];
  }

  private onError(frame: Buffer): Buffer {
    this.endRows();
    const u = this.head();
    if (u && u.k !== 'query' && u.k !== 'sync') {
      // Extended protocol: the failing message and everything up to Sync produce nothing more.
      while (this.units.length > 0 && this.units[0].k !== 'sync') this.dropped(this.units.shift()!);
      this.skipping = true;
    }
    return this.masking.scrub(frame) ?? frame;
  }

  /**
   * A unit the server will not answer (an error skipped it): a Describe it stood for is no longer
   * on its way, so an Execute of what waited for it describes the portal itself (fail closed:
   * rows are never planned without a description).
   */
  private dropped(u: Unit): void {
    if (u.k !== 'describe') return;
    if (u.portal) u.portal.describing = false;
    const st = u.statement;
    if (st) {
      st.describing = false;
      for (const p of st.waiting) p.describing = false;
      st.waiting = [];
    }
  }

  private onControl(tag: number, frame: Buffer): Buffer | null {
    const u = this.head();
    switch (tag) {
      case BE.ParseComplete:
      case BE.BindComplete:
      case BE.CloseComplete:
        this.units.shift();
        return frame;
      case BE.ParameterDescription:
        if (u?.k === 'describe') u.gotParams = true;
        return u?.k === 'describe' && u.injected ? null : frame;
      case BE.NoData:
      case BE.RowDescription:
        return this.onDescription(tag, frame, u);
      case BE.CopyOutResponse:
        this.copying = true;
        this.current = this.masking.copyPlan(this.outputsOfHead(), frame[5] === 1);
        this.setRowsInteresting();
        return frame;
      case BE.CopyDone: {
        const rest = this.current?.finish?.();
        this.endRows();
        return rest && rest.length > 0 ? Buffer.concat([rest, frame]) : frame;
      }
      case BE.CommandComplete:
      case BE.EmptyQueryResponse:
      case BE.PortalSuspended:
        this.endRows();
        if (u?.k === 'query') u.index++;
        else if (u?.k === 'execute') this.units.shift();
        return frame;
      case BE.CopyInResponse:
        return frame;
      default:
        return frame;
    }
  }

  private onDescription(tag: number, frame: Buffer, u: Unit | undefined): Buffer | null {
    const fields = tag === BE.RowDescription ? decodeRowDescription(frame) : null;
    if (u?.k === 'describe') {
      this.units.shift();
      const st = u.statement;
      if (st) {
        st.describing = false;
        if (fields) {
          st.fields = fields;
          this.described.push(st);
        }
        for (const p of st.waiting) {
          p.describing = false;
          if (fields && !p.fields) p.fields = withFormats(fields, p.formats);
        }
        st.waiting = [];
      }
      const p = u.portal;
      if (p) {
        p.describing = false;
        p.fields = fields ?? [];
      }
      return u.injected ? null : frame;
    }
    if (u?.k === 'query' && fields) {
      // A row-returning statement of a simple Query: its rows follow now.
      this.current = this.masking.plan(fields, u.results[u.index], []);
      this.setRowsInteresting();
      return frame;
    }
    // Not expected here (the tracker lost step): mask as if nothing were known.
    if (fields) {
      this.current = this.masking.plan(fields, undefined, []);
      this.setRowsInteresting();
    }
    return frame;
  }

  private outputsOfHead(): Outputs {
    const u = this.head();
    if (u?.k === 'query') return u.results[u.index];
    if (u?.k === 'execute') return u.outputs;
    return undefined;
  }

  /**
   * Execute units carry no RowDescription of their own: once every unit before an Execute is
   * done, its rows are next. Called after each response message and when an Execute is queued,
   * so the plan is in place before the first DataRow header is read. A portal whose fields are
   * unknown (it should not happen: the session describes it first) is planned from provenance
   * alone, which masks every text column of a sensitive source (fail closed).
   */
  prepareNext(): void {
    const u = this.head();
    if (u?.k !== 'execute' || u.planned || this.skipping) return;
    u.planned = true;
    const p = u.portal;
    this.current = this.masking.plan(p.fields ?? [], u.outputs, p.formats);
    this.setRowsInteresting();
  }

  /**
   * Called when `masksRows` may have changed; the owner decides whether DataRows are read (others
   * may need them too: the audit's capture). Without it, DataRows are read exactly when masked.
   */
  onRowsChanged: (() => void) | null = null;

  private setRowsInteresting(): void {
    const on = this.current ? 1 : 0;
    this.scanner.interesting[BE.CopyData] = on;
    if (this.onRowsChanged) this.onRowsChanged();
    else this.scanner.interesting[BE.DataRow] = on;
  }

  private endRows(): void {
    this.current = null;
    this.copying = false;
    this.setRowsInteresting();
  }
}

/**
 * A policy's `max_rows` on the wire: at most `max` rows of one statement's result reach the
 * client. The row past the limit, and every later row of that result, is dropped, and the
 * result's end (CommandComplete, PortalSuspended, or the server's own error) is replaced by the
 * refusal (SQLSTATE 54000), so the client never takes a cut result for a whole one. Rows count
 * per statement, across the batches of a portal executed with a row count.
 *
 * MUST see every result end of the response stream, in order, and count every DataRow: the
 * ones the session reads through `row` (after masking: it forwards what masking made of a row),
 * the ones the scanner let pass unread through `passed`, which `allowance` bounds so that the row
 * past the limit is always read.
 */
export class RowLimit {
  private rows = 0;
  private over = false;

  constructor(
    private readonly max: () => number | undefined,
    private readonly refusal: (max: number) => Buffer,
  ) {}

  /** Rows that passed uncounted by `row` (the scanner counted their headers). */
  passed(n: number): void {
    this.rows += n;
  }

  /**
   * How many more rows of this result may pass without being looked at: the scanner forwards
   * that many DataRows as bytes, counting their headers (`passed`), and hands over the next one.
   * The limit is read here, at each message the session reads, rather than at each row.
   */
  allowance(): number {
    if (this.over) return 0;
    const max = this.max();
    return max === undefined ? Infinity : Math.max(0, max - this.rows);
  }

  /** One DataRow: true when it may be forwarded, false when it is past the limit (dropped). */
  row(): boolean {
    if (this.over) return false;
    const max = this.max();
    if (max !== undefined && ++this.rows > max) {
      this.over = true;
      return false;
    }
    return true;
  }

  /** What to forward in place of this message: itself, nothing (null), or the refusal. */
  message(tag: number, frame: Buffer): { tag: number; frame: Buffer } | null {
    switch (tag) {
      case BE.DataRow:
        return this.row() ? { tag, frame } : null;
      case BE.PortalSuspended:
        // The portal may be executed again: its rows keep counting, unless it ended here.
        return this.over ? this.end() : { tag, frame };
      case BE.CommandComplete:
      case BE.EmptyQueryResponse:
      case BE.ErrorResponse:
      case BE.CopyOutResponse:
      case BE.ReadyForQuery: {
        const over = this.over && tag !== BE.ReadyForQuery;
        this.rows = 0;
        this.over = false;
        return over ? this.end() : { tag, frame };
      }
      default:
        return { tag, frame };
    }
  }

  private end(): { tag: number; frame: Buffer } {
    const max = this.max() ?? 0;
    this.rows = 0;
    this.over = false;
    return { tag: BE.ErrorResponse, frame: this.refusal(max) };
  }
}
