/**
 * What the wire tells about one prepared statement or portal, kept on that name's one record in
 * the ledger (the gate's `Prepared`, ledger.ts): the result fields a Describe answered, a Bind's
 * result formats, bytes and parameters. There is no second map of names: the gate hands the
 * record's facts to the session with its verdict on each Bind and Execute (and on a Describe),
 * and the result tracker and the audit keep a reference to them in the unit of that message.
 *
 * Facts belong to one record, never to a name: a Parse, Bind, PREPARE or DECLARE that re-uses a
 * name makes a new record with new facts, so a description of what the name meant before can
 * never be applied to what it means now (a re-bound name would otherwise be masked by another
 * statement's columns).
 */
import type { FieldDescription } from '../protocol/index.ts';

/** A prepared statement's facts (Parse, SQL PREPARE). */
export interface StatementFacts {
  /**
   * Result fields from a Describe of it answered in the current cycle (the tracker clears them at
   * ReadyForQuery: a description is trusted within one cycle only).
   */
  fields?: FieldDescription[];
  /** A Describe of it is on its way. */
  describing: boolean;
  /** Portals bound to it while that Describe was on its way: its answer gives them their fields. */
  waiting: PortalFacts[];
}

/** A portal's facts (Bind, or SQL DECLARE for a cursor). */
export interface PortalFacts {
  /** The statement it was bound to, when its descriptions apply to the portal (see PolicyGate.bind). */
  statement: StatementFacts | null;
  /** Result format codes of its Bind (one code: all columns; none: text). */
  formats: number[];
  /** Fields in result formats, from a Describe of the portal or derived from its statement's. */
  fields?: FieldDescription[];
  /** A Describe of this portal or its statement is on its way: no need to send one. */
  describing: boolean;
  /** Its Bind's parameters as text (binary ones as `base64:…`): reviews bind an approval to them. */
  params?: (string | null)[];
  /** Its Bind message and parameters, for the audit record of an Execute of it (set when the Bind is forwarded). */
  bound?: { bytes: Buffer; params: (string | null)[] };
}

export function newStatementFacts(): StatementFacts {
  return { describing: false, waiting: [] };
}

export function newPortalFacts(statement: StatementFacts | null): PortalFacts {
  return { statement, formats: [], describing: false };
}
