/**
 * The shape of an audit record as every store keeps it. The audit part builds and seals these
 * (src/audit/chain.ts) and re-exports the types; they live here, importing nothing, so that the
 * stores never import the audit part back (the folder graph stays acyclic: audit → store).
 */

export type RecordType = 'session_start' | 'statement' | 'statement_end' | 'session_end' | 'event';
export type Verdict = 'allow' | 'deny' | 'review';

/** What every form of a record starts with: who wrote it, where in its chain, when, of what. */
export interface RecordHeader {
  /** `<instance>:<seq>`: unique across the gateways sharing a store. */
  id: string;
  instance: string;
  /** Position in the instance's chain: 1, 2, … with no gaps. */
  seq: number;
  at: number;
  type: RecordType;
  sessionId: string | null;
}

/** A record as a store keeps it: the hashed body plus the columns searches use. */
export interface StoredRecord extends RecordHeader {
  /** Canonical JSON of `{ at, data, id, instance, seq, sessionId, type }`. */
  body: string;
  prevHash: string;
  hash: string;
  /** Search columns, derived from the body (verify checks that they still agree). */
  subject: string | null;
  verdict: string | null;
  /** ` public.orders public.customers ` (spaces around each name, for a LIKE '% name %'). */
  tables: string | null;
  text: string | null;
  /** For a statement_end record: the id of its statement. */
  ref: string | null;
}

/** Where a chain continues from: its last record, or its retention anchor. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export interface ChainAnchor extends ChainHead {
  /** When the last deleted record was written. */
  at: number;
}
