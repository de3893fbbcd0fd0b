/**
 * The hash chain. Each gateway instance numbers its records 1, 2, … and links each to the one
 * before: `hash = sha256(prevHash || body)`, where `body` is the canonical JSON of everything in
 * the record but the two hashes. Editing a record breaks its own hash; removing one leaves a gap
 * in the numbers and a link to nowhere; reordering puts a record where its number and link do not
 * fit. Retention deletes a prefix of the chain and keeps the last deleted record's seq and hash as
 * the chain's anchor, so what remains still verifies.
 *
 * The stored body string is what is hashed, byte for byte: verification never re-serialises.
 */
import { hash } from 'node:crypto';
import type { ChainHead, RecordHeader, RecordType, StoredRecord } from '../store/record.ts';
import type { AuditRecord } from './events.ts';

/** The link of the first record of a chain with no anchor. */
export const GENESIS_HASH = '0'.repeat(64);

export type { ChainAnchor, ChainHead, StoredRecord } from '../store/record.ts';

/**
 * JSON with object keys sorted at every level and `undefined` members left out: one text per
 * value, whatever order its keys were built in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (value[i] === undefined ? 'null' : canonicalJson(value[i]));
    return `${out}]`;
  }
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

export function linkHash(prevHash: string, body: string): string {
  // One-shot: a Hash object per record costs more than the digest of a short record.
  return hash('sha256', prevHash + body, 'hex');
}

/** The parts of a record that are hashed (all but prevHash and hash). */
export interface RecordContent extends RecordHeader {
  data: Record<string, unknown>;
}

export function recordBody(r: RecordContent): string {
  return canonicalJson({ at: r.at, data: r.data, id: r.id, instance: r.instance, seq: r.seq, sessionId: r.sessionId, type: r.type });
}

/** The search columns of a record, all read from its data. */
export function searchColumns(type: RecordType, data: Record<string, unknown>): Pick<StoredRecord, 'subject' | 'verdict' | 'tables' | 'text' | 'ref'> {
  const identity = data.identity as { subject?: unknown } | undefined;
  const subject = identity && typeof identity.subject === 'string' ? identity.subject : null;
  if (type === 'statement_end') return { subject, verdict: null, tables: null, text: null, ref: typeof data.id === 'string' ? data.id : null };
  if (type !== 'statement') return { subject, verdict: null, tables: null, text: null, ref: null };
  const decision = data.decision as { verdict?: unknown } | undefined;
  const analysis = data.analysis as { tables?: unknown } | undefined;
  const tables = analysis && Array.isArray(analysis.tables) && analysis.tables.length ? ` ${analysis.tables.join(' ')} ` : null;
  return {
    subject,
    verdict: decision && typeof decision.verdict === 'string' ? decision.verdict : null,
    tables,
    // A database text column cannot hold NUL; the body keeps the exact text.
    text: typeof data.text === 'string' ? data.text.replaceAll('\0', '\uFFFD') : null,
    ref: null,
  };
}

/** Seal a record onto the chain after `prev`. */
export function seal(content: RecordContent, prevHash: string, body: string = recordBody(content)): StoredRecord {
  return {
    id: content.id,
    instance: content.instance,
    seq: content.seq,
    at: content.at,
    type: content.type,
    sessionId: content.sessionId,
    body,
    prevHash,
    hash: linkHash(prevHash, body),
    ...searchColumns(content.type, content.data),
  };
}

export function toAuditRecord(s: StoredRecord): AuditRecord {
  const parsed = JSON.parse(s.body) as RecordContent;
  return { id: s.id, instance: s.instance, seq: s.seq, at: s.at, type: s.type, sessionId: s.sessionId, data: parsed.data, prevHash: s.prevHash, hash: s.hash };
}

/**
 * `missing_tail`: the newest records are gone (the chain ends before a checkpoint's head);
 * `missing_prefix`: the oldest are gone behind an anchor retention did not set;
 * `bad_checkpoint`: a checkpoint given to verify is not signed with the key.
 */
export type ProblemKind = 'edited' | 'removed' | 'reordered' | 'missing_tail' | 'missing_prefix' | 'bad_checkpoint';

export interface ChainProblem {
  instance: string;
  kind: ProblemKind;
  /** The first record that is not as written: its position in the chain and its id. */
  seq: number;
  id: string;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Records checked, over all instances. */
  records: number;
  instances: string[];
  problem?: ChainProblem;
  /** What could not be checked (no key configured, unsigned checkpoints), and the index's lag. */
  warnings?: string[];
  /** The journal, when one was checked: its records and how far the index is behind it. */
  journal?: { location: string; records: number; lag: number };
}

/**
 * Walk one instance's records (in stored seq order) and return the first problem, or null.
 * `anchor` is where the chain starts after retention (null: at seq 1 with the genesis link).
 */
export function verifyChain(instance: string, rows: Iterable<StoredRecord>, anchor: ChainHead | null): { checked: number; problem: ChainProblem | null } {
  let expectSeq = (anchor?.seq ?? 0) + 1;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let prev: StoredRecord | null = null;
  let checked = 0;
  const problem = (kind: ProblemKind, r: { seq: number; id: string }, message: string) => ({ checked, problem: { instance, kind, seq: r.seq, id: r.id, message } });
  for (const row of rows) {
    checked++;
    let content: RecordContent | null = null;
    try {
      content = JSON.parse(row.body) as RecordContent;
    } catch {
      content = null;
    }
    const selfHashOk = linkHash(row.prevHash, row.body) === row.hash;
    if (!content || !selfHashOk) {
      return problem('edited', row, `record ${row.id} (seq ${row.seq}) was edited: its content does not match its hash`);
    }
    // The body is intact; now the stored columns must agree with it.
    if (content.seq !== row.seq || content.id !== row.id || content.instance !== instance) {
      if (content.instance === instance && content.seq !== row.seq) {
        return problem('reordered', row, `record ${row.id} (seq ${row.seq}) holds the content of seq ${content.seq} (${content.id}): records were reordered`);
      }
      return problem('edited', row, `record ${row.id} (seq ${row.seq}) was edited: its id, seq or instance differ from its content`);
    }
    const cols = searchColumns(content.type, content.data);
    if (
      content.at !== row.at ||
      content.type !== row.type ||
      content.sessionId !== row.sessionId ||
      cols.subject !== row.subject ||
      cols.verdict !== row.verdict ||
      cols.tables !== row.tables ||
      cols.text !== row.text ||
      cols.ref !== row.ref
    ) {
      return problem('edited', row, `record ${row.id} (seq ${row.seq}) was edited: its searchable columns differ from its hashed content`);
    }
    if (row.seq > expectSeq) {
      const missing = row.seq - expectSeq === 1 ? `seq ${expectSeq} is missing` : `seq ${expectSeq}–${row.seq - 1} are missing`;
      return problem('removed', row, `records were removed before ${row.id} (seq ${row.seq}): ${missing}`);
    }
    if (row.seq < expectSeq) {
      return problem('reordered', row, `record ${row.id} (seq ${row.seq}) appears after seq ${expectSeq - 1}: records were reordered or duplicated`);
    }
    if (row.prevHash !== prevHash) {
      // Both records are intact in themselves, but do not link: the earlier one was replaced
      // (edited and re-hashed) or this one was made for another chain position.
      const culprit = prev ?? row;
      const where = prev ? `record ${prev.id} (seq ${prev.seq}) was edited or replaced: ${row.id} (seq ${row.seq}) does not link to it` : `record ${row.id} (seq ${row.seq}) does not link to the chain's ${anchor ? 'retention anchor' : 'start'}`;
      return problem('edited', culprit, where);
    }
    prevHash = row.hash;
    expectSeq = row.seq + 1;
    prev = row;
  }
  return { checked, problem: null };
}
