/**
 * Reading sessions out of the audit store for the console: a page of sessions, newest first, with
 * the filters the list offers, and each session's counts.
 *
 * Identity and time filter on the session's start record (the time is when the session began);
 * decision and text keep the sessions with at least one statement that matches. Pages are cut by
 * a cursor (start time, store position) rather than an offset, so sessions arriving while someone
 * pages do not shift what the next page shows.
 */
import { toAuditRecord, type AuditRecord, type Verdict } from '../audit/index.ts';
import type { AuditStore, StoredRow } from '../store/index.ts';

export interface SessionFilter {
  identity?: string;
  since?: number;
  until?: number;
  decision?: Verdict;
  text?: string;
}

export interface Cursor {
  at: number;
  pos: number;
}

export interface SessionSummary {
  start: AuditRecord;
  end?: AuditRecord;
  statements: number;
  /** More statements than were counted. */
  more: boolean;
  denied: number;
  reviewed: number;
  errors: number;
}

/** Sessions whose statements are searched for a decision or text filter, at most. */
const STATEMENT_SCAN = 20_000;
/** Statements counted per session in the list; beyond it the list says "N+". */
const COUNT_CAP = 5_000;

export function encodeCursor(c: Cursor): string {
  return `${c.at}-${c.pos}`;
}

export function decodeCursor(text: string | undefined): Cursor | undefined {
  const m = text ? /^(\d{1,16})-(\d{1,16})$/.exec(text) : null;
  return m ? { at: Number(m[1]), pos: Number(m[2]) } : undefined;
}

function before(r: StoredRow, c: Cursor | undefined): boolean {
  return !c || r.at < c.at || (r.at === c.at && r.pos < c.pos);
}

function newestFirst(a: StoredRow, b: StoredRow): number {
  return b.at - a.at || b.pos - a.pos;
}

export async function listSessions(store: AuditStore, f: SessionFilter, page: { before?: Cursor; size: number }): Promise<{ sessions: SessionSummary[]; next?: Cursor }> {
  let wanted: Set<string> | undefined;
  if (f.decision !== undefined || f.text !== undefined) {
    // A statement of a session that began at or after `since` is itself at or after `since`.
    const hits = await store.search({ types: ['statement'], identity: f.identity, since: f.since, decision: f.decision, text: f.text, newest: true, limit: STATEMENT_SCAN });
    wanted = new Set(hits.map((h) => h.sessionId).filter((id): id is string => id !== null));
    if (wanted.size === 0) return { sessions: [] };
  }
  const found: StoredRow[] = [];
  let cursor = page.before;
  let chunk = Math.max(100, page.size * 4);
  for (;;) {
    const until = cursor ? Math.min(f.until ?? Infinity, cursor.at + 1) : f.until;
    const rows = (await store.search({ types: ['session_start'], identity: f.identity, since: f.since, until, newest: true, limit: chunk })).sort(newestFirst);
    const fresh = rows.filter((r) => before(r, cursor));
    if (fresh.length === 0 && rows.length === chunk) {
      // A whole chunk of sessions started in the same millisecond as the cursor: look further.
      chunk *= 4;
      continue;
    }
    for (const r of fresh) {
      if (!wanted || (r.sessionId !== null && wanted.has(r.sessionId))) found.push(r);
      if (found.length > page.size) break;
    }
    if (found.length > page.size || rows.length < chunk || fresh.length === 0) break;
    const last = fresh[fresh.length - 1];
    cursor = { at: last.at, pos: last.pos };
  }
  const shown = found.slice(0, page.size);
  const sessions = await Promise.all(shown.map((r) => summarise(store, r)));
  const last = shown[shown.length - 1];
  return { sessions, next: found.length > page.size && last ? { at: last.at, pos: last.pos } : undefined };
}

async function summarise(store: AuditStore, start: StoredRow): Promise<SessionSummary> {
  const rows = await store.search({ sessionId: start.sessionId!, types: ['statement', 'session_end'], limit: COUNT_CAP + 1 });
  const s: SessionSummary = { start: toAuditRecord(start), statements: 0, more: rows.length > COUNT_CAP, denied: 0, reviewed: 0, errors: 0 };
  for (const r of rows.slice(0, COUNT_CAP)) {
    if (r.type === 'session_end') s.end = toAuditRecord(r);
    else {
      s.statements++;
      if (r.verdict === 'deny') s.denied++;
      else if (r.verdict === 'review') s.reviewed++;
    }
  }
  if (s.more) {
    const end = await store.search({ sessionId: start.sessionId!, types: ['session_end'], limit: 1 });
    if (end[0]) s.end = toAuditRecord(end[0]);
  }
  return s;
}

/** The session's start record, or null when the log has none. */
export async function sessionStart(store: AuditStore, sessionId: string): Promise<{ start: AuditRecord; end?: AuditRecord } | null> {
  const rows = await store.search({ sessionId, types: ['session_start', 'session_end'], limit: 2 });
  const start = rows.find((r) => r.type === 'session_start');
  if (!start) return null;
  const end = rows.find((r) => r.type === 'session_end');
  return { start: toAuditRecord(start), end: end ? toAuditRecord(end) : undefined };
}

export interface StatementRow {
  record: AuditRecord;
  pos: number;
  outcome?: AuditRecord;
}

/** A page of a session's statements in the order they were sent, each with its outcome. */
export async function sessionStatements(store: AuditStore, sessionId: string, page: { afterPos?: number; size: number }): Promise<{ statements: StatementRow[]; nextAfter?: number }> {
  const rows = await store.search({ sessionId, types: ['statement'], afterPos: page.afterPos, limit: page.size + 1 });
  const shown = rows.slice(0, page.size);
  const outcomes = await store.outcomes(shown.map((r) => r.id));
  const statements = shown.map((r) => {
    const o = outcomes.get(r.id);
    return { record: toAuditRecord(r), pos: r.pos, outcome: o ? toAuditRecord(o) : undefined };
  });
  return { statements, nextAfter: rows.length > page.size ? shown[shown.length - 1].pos : undefined };
}
