/**
 * Reading the log back: a session's records in the order they were written, each statement paired
 * with its outcome, with times relative to the session start — what `audit replay` prints and the
 * console will show.
 */
import type { AuditStore, StoredRow } from '../store/audit-store.ts';
import { toAuditRecord } from './chain.ts';
import type { AuditRecord } from './events.ts';

export interface ReplayStep {
  /** Milliseconds since the first record of the session. */
  offsetMs: number;
  record: AuditRecord;
  /** For a statement: its statement_end record, when written. */
  outcome?: AuditRecord;
}

export interface Replay {
  sessionId: string;
  start?: AuditRecord;
  end?: AuditRecord;
  steps: ReplayStep[];
}

/** Null when the log holds nothing for the session. */
export async function loadReplay(store: AuditStore, sessionId: string): Promise<Replay | null> {
  const rows: StoredRow[] = [];
  let afterPos: number | undefined;
  for (;;) {
    const page = await store.search({ sessionId, afterPos, limit: 5000 });
    rows.push(...page);
    if (page.length < 5000) break;
    afterPos = page[page.length - 1].pos;
  }
  if (rows.length === 0) return null;
  // A session lives on one gateway instance: its chain order is the order things happened.
  rows.sort((a, b) => (a.instance === b.instance ? a.seq - b.seq : a.at - b.at));
  const records = rows.map(toAuditRecord);
  const outcomes = new Map<string, AuditRecord>();
  for (const r of records) if (r.type === 'statement_end' && typeof r.data.id === 'string') outcomes.set(r.data.id, r);
  const t0 = records[0].at;
  const replay: Replay = { sessionId, steps: [] };
  for (const r of records) {
    if (r.type === 'session_start') replay.start = r;
    else if (r.type === 'session_end') replay.end = r;
    if (r.type === 'statement_end') continue;
    replay.steps.push({ offsetMs: r.at - t0, record: r, outcome: r.type === 'statement' ? outcomes.get(r.id) : undefined });
  }
  return replay;
}
