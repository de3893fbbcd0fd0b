/**
 * One client session relayed to its upstream connection, with every statement put to a
 * `StatementGate` (analysis + policy) before a byte of it is forwarded.
 *
 * Client → upstream: the client's bytes are framed into whole messages (capped at
 * `maxMessageSize`). Query, Parse, Bind, Execute and Close are decoded as far as a decision needs;
 * allowed frames go upstream as the same bytes, merged into one write per chunk. Upstream →
 * client: a `StreamScanner` forwards untouched runs of bytes and stops only at the messages the
 * session must read (ReadyForQuery, which closes one request cycle and tells the transaction
 * status, ErrorResponse, and what masking, the audit or a row limit need; DataRows only while
 * they are masked or captured). What one read makes the client get leaves in one write.
 *
 * Refusals keep PostgreSQL's semantics without a transaction-state emulation:
 * - When nothing is in flight and no transaction block is open, the gateway answers by itself
 *   (ErrorResponse, then ReadyForQuery at the end of the cycle).
 * - Otherwise the refused message is replaced by a marker statement that cannot parse. The
 *   upstream fails on it exactly where the refused statement stood — aborting an open
 *   transaction block or an implicit extended-protocol transaction, discarding until Sync — and
 *   the gateway rewrites that one syntax error into the refusal. Client and upstream therefore
 *   always agree on the transaction state, and nothing of the refused statement runs.
 *
 * Replies the gateway makes itself MUST reach the client in protocol order: after every response
 * the upstream still owes for messages sent before them. `cycles` counts the ReadyForQuery
 * messages owed (one per Query, Sync and locally answered cycle); a local reply waits in
 * `outbox` until the cycles before it have completed and the upstream stream stands between two
 * messages.
 *
 * Statements held for review: a simple Query waits at the gateway. Over the extended protocol,
 * the Parse or Bind of a statement a review rule holds, and everything after it in the batch, is
 * kept back (`later`) until that statement's Execute is decided, so nothing of it reaches the
 * server before approval. While anything waits, the client socket is still read: a client that
 * disconnects ends the session at once, which closes the upstream connection (the server rolls
 * back) and abandons the review.
 *
 * Backpressure: when one side's socket buffer is full, the other side's reads are paused until it
 * drains, so a large result streams with flat memory.
 */
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { ResultTracker, RowLimit, type MaskingPort, type Outputs } from './results.ts';
import type { StatementAudit } from './audit-port.ts';
import { AuditFollower, type AuditEntry, type AuditedCycle } from './audit-follower.ts';
import { pinnedSettingDrift } from './lexing-settings.ts';
import { newPortalFacts, type PortalFacts, type StatementFacts } from './wire-facts.ts';
import type { BufferBudget } from './buffer-budget.ts';
import type { LeaseEffect, ReleaseMode, UpstreamLease } from '../upstream/index.ts';
import { timeMethods, type StageClock } from './pipeline.ts';
import {
  BE,
  FE,
  MessageFramer,
  MessageTooLargeError,
  ProtocolError,
  ByteGather,
  Reader,
  StreamScanner,
  type TxStatus,
  decodeBind,
  decodeDataRow,
  decodeExecute,
  decodeFields,
  decodeParameterStatus,
  decodeParse,
  decodeQuery,
  decodeTarget,
  encodeClose,
  encodeDescribe,
  encodeErrorResponse,
  encodeNoticeResponse,
  encodeParse,
  encodeQuery,
  encodeReadyForQuery,
} from '../protocol/index.ts';

/**
 * What a gate says of one message. `effect` comes back to the gate when its cycle completes;
 * `retry` asks the session to hold the message (and everything after it) and ask again once the
 * promise settles (e.g. after a catalog reload for a name the catalog did not know).
 */
export type GateVerdict =
  | {
      ok: true;
      effect?: unknown;
      /** What the statement leaves on its server connection, for a per-transaction lease (see `UpstreamLease.note`). */
      pool?: LeaseEffect;
      /** The rows each statement of a simple Query returns; for an Execute, its portal's rows. */
      results?: Outputs[];
      info?: VerdictInfo;
      /**
       * Parse/Bind of a statement held for review at its Execute: nothing of it (nor anything
       * after it in the batch) may reach the server until that Execute is decided.
       */
      defer?: boolean;
      /**
       * Bind and Execute: the portal's record (its facts, wire-facts.ts), as the ledger holds it.
       * A Bind's is fresh; the session fills it (result formats, bytes, parameters), and the
       * result tracker and the audit read it at the portal's Executes.
       */
      portal?: PortalFacts;
      /** How many COPY … FROM STDIN statements the Query or Execute runs (see `Session.copyIn`). */
      copyIn?: number;
    }
  | {
      ok: false;
      error: GatewayError;
      info?: VerdictInfo;
      /**
       * The refused statement would have ended the transaction block even by failing (a COMMIT
       * or PREPARE TRANSACTION: PostgreSQL then rolls the block back and reports Idle). The
       * session sends a ROLLBACK after the refusal's marker, so the server's block ends as it
       * would have; this is that ROLLBACK's effect, handed back at `batchEnd`/`cycleDone`.
       */
      rollback?: unknown;
    }
  | { ok: 'retry'; retry: Promise<void> };

/** What the audit log records of a decision. */
export interface VerdictInfo {
  /** The statement text (for Execute: the prepared statement's). */
  text: string;
  /** The review that approved (or refused) it. */
  reviewId?: string;
  /** The policies whose grants allowed it, or the rule that refused it. */
  rule?: string;
  analysis?: { command: string; class: string; tables: string[] };
}

/**
 * The decisions a session asks for. Implementations are synchronous; `ready()` lets one ask the
 * session to hold the next statement until something (a catalog reload after DDL) is done.
 */
export interface StatementGate {
  ready(): Promise<void> | null;
  query(text: string): GateVerdict;
  /** `paramTypes`: the Parse's parameter type OIDs (0: left to the server). */
  parse(name: string, text: string, paramTypes?: readonly number[]): GateVerdict;
  /**
   * A Bind; nothing (or `{ ok: true }`) lets it through. `params` reads its parameter values
   * (null: the message cannot be read), for a statement decided on them.
   */
  bind(portal: string, statement: string, params?: () => readonly (Buffer | null)[] | null): GateVerdict | void;
  execute(portal: string): GateVerdict;
  /** A Close; returns its effect (handed back at `cycleDone`). */
  close(target: 'S' | 'P', name: string): unknown;
  /**
   * A Describe: the facts of the record the name will mean when it runs, if the gate holds one
   * (a description is then kept there); undefined: nothing is learned from the answer.
   */
  describe?(target: 'S' | 'P', name: string): StatementFacts | PortalFacts | undefined;
  /**
   * A request cycle ended; `failed` when the upstream reported an error of its own in it (a
   * refusal's marker failing where the refused statement stood does not count: everything
   * before the marker ran). `outcome`: whether an error stopped the cycle (`marker`: only a
   * refusal's marker, after everything forwarded ran) and the transaction status it ended in.
   */
  cycleDone(effects: unknown[], failed: boolean, outcome?: { error: 'none' | 'marker' | 'upstream'; status: 'I' | 'T' | 'E' }): void;
  /**
   * The batch being built ended: `effects` (the allowed messages' effects) went upstream as one
   * cycle, or nothing did (`forwarded` false: the cycle was answered by the gateway).
   */
  batchEnd?(effects: unknown[], forwarded: boolean): void;
  /** The session ended: a statement held for review is abandoned. */
  abandon?(): void;
  /** The client cancelled: abandon a statement held for review; true when there was one. */
  cancelWait?(): boolean;
  /**
   * Asked after each of the client's cycles (at its ReadyForQuery, with the status it reported):
   * the effect of a read-back of the server's search_path the session is to send now, or
   * undefined. The read-back is a cycle of its own, none of whose messages reach the client; its
   * answer is handed over with `pathObserved`, then the effect at `batchEnd`/`cycleDone`.
   */
  pathReadback?(status: 'I' | 'T' | 'E'): unknown;
  /**
   * Whether a statement earlier in the batch being built runs code that may change how the server
   * reads the batch's later messages (client_encoding): a name that is not ASCII is then refused.
   */
  lexingUnsettled?(): boolean;
  pathObserved?(effect: unknown, value: string): void;
  /** Set by the session: how the gate sends the client a NoticeResponse. */
  notice?: ((text: string) => void) | null;
  /**
   * Set by the session: a statement starts waiting for review (it is recorded as held). `portal`:
   * the facts of the portal an Execute runs.
   */
  held?: ((info: VerdictInfo, params: (string | null)[], portal?: PortalFacts) => void) | null;
}

/** Lets every statement through (used where no policy applies, e.g. tests of the relay itself). */
export const OPEN_GATE: StatementGate = {
  ready: () => null,
  query: () => ({ ok: true }),
  parse: () => ({ ok: true }),
  bind: () => {},
  execute: () => ({ ok: true }),
  close: () => {},
  cycleDone: () => {},
};

export interface SessionOptions {
  client: Duplex;
  /** The server connection. The session reads and writes its stream and gives it back with `release`. */
  upstream: UpstreamLease;
  identity: Identity;
  logger: Logger;
  maxMessageSize: number;
  /**
   * Largest statement text (Query, Parse) read; a longer one is refused with 54000 at its
   * header and its bytes are discarded unread. Default: `maxMessageSize`.
   */
  maxStatementSize?: number;
  /** Client bytes held by this session count against this budget, under `budgetKey` (the identity). */
  budget?: BufferBudget;
  budgetKey?: string;
  /** Epoch ms after which the next statement ends the session (token expiry + grace). */
  expiresAt: number;
  gate?: StatementGate;
  /** Set when the identity has columns to mask: results are then followed and rewritten. */
  masking?: MaskingPort;
  /** The audit log, bound to this session: statements are recorded before they are forwarded. */
  audit?: StatementAudit;
  /** Rows of each statement's result kept in its audit record, as the client saw them (0: none). */
  captureRows?: number;
  /** The policy's `max_rows`, read per row: a longer result is ended with an error (see RowLimit). */
  maxRows?: () => number | undefined;
  onClose?: (reason: string) => void;
  /** Set when the time of each pipeline stage is measured (see pipeline.ts); null or absent: not measured. */
  clock?: StageClock | null;
}

interface UpstreamCycle extends AuditedCycle {
  effects: unknown[];
  refusals: GatewayError[];
  failed: boolean;
  /** Failed with an error of the upstream's own (not a refusal's marker). */
  upstreamFailed: boolean;
  /** A refusal's ROLLBACK follows: this cycle's ReadyForQuery is not passed on (the ROLLBACK's is). */
  rollbackNext?: boolean;
  /**
   * The ROLLBACK sent after a refused block-ending statement: the client sees its ReadyForQuery
   * (as the one of the refused statement's cycle) and any ParameterStatus or error, not its
   * CommandComplete nor the server's "no transaction in progress" warning.
   */
  rollback?: boolean;
  /** The gateway's read-back of search_path (see `StatementGate.pathReadback`): nothing of it reaches the client. */
  readback?: { effect: unknown; value: string | null };
  /** Ended by a Query (the client's, a refusal's marker, a ROLLBACK), not by a Sync. */
  query?: true;
  /**
   * A Query sent after extended-protocol messages without a Sync: the server runs it only if none
   * of them fails (after an error it skips to Sync, this Query and its ReadyForQuery included).
   * BOUNDARY_CLOSE went just before it; its CloseComplete comes after `closesLeft` more of the
   * client's and tells that they all succeeded (`passed`). An error before it is theirs.
   */
  boundary?: { closesLeft: number; passed: boolean };
}

interface LocalReply {
  /** ReadyForQuery cycles of the upstream that must complete first. */
  after: number;
  bytes: Buffer[];
  /** Appends a ReadyForQuery with the status current at send time. */
  readyForQuery: boolean;
  /** Ends the session once sent. */
  fatal: boolean;
}

/** A statement that cannot parse, sent in place of a refused one (see the module doc). */
const MARKER = 'PGWARDEN_REFUSED_STATEMENT';
const MARKER_QUERY = encodeQuery(MARKER);
const MARKER_PARSE = encodeParse('pgwarden.refused', MARKER);
const ROLLBACK_QUERY = encodeQuery('ROLLBACK');
/** Schema-qualified: no function of the session's path can stand in for it. */
const READBACK_QUERY = encodeQuery("select pg_catalog.current_setting('search_path')");
/**
 * Sent before a Query that follows extended-protocol messages without a Sync (see
 * `UpstreamCycle.boundary`): a Close of a statement no one has, which PostgreSQL answers with
 * CloseComplete, in any transaction state and without an error, unless an earlier message of the
 * batch failed and it skips to Sync.
 */
const BOUNDARY_CLOSE = encodeClose('S', 'pgwarden.boundary');
const NO_EARLY_ERROR = Object.freeze({ failed: false, upstreamFailed: false, marker: false });

/** PostgreSQL's own error for a statement a CancelRequest stopped. */
function cancelled(): GatewayError {
  return new GatewayError('statement.cancelled', 'canceling statement due to user request');
}
/** Client bytes queued while a statement waits before reading stops (the client is then paused). */
const INBOX_LIMIT = 1024 * 1024;
/** Bytes of a Parse besides its text: name (PostgreSQL keeps 63 bytes), 65535 parameter types. */
const PARSE_OVERHEAD = 6 + 64 + 2 + 4 * 65535;
const EMPTY = Buffer.alloc(0);

/** The refusal of a result longer than the policy's max_rows. */
function rowLimitError(subject: string, max: number): GatewayError {
  return new GatewayError('policy.denied', `pgwarden: result exceeds max_rows ${max} for ${subject}; the rows after the first ${max} were not sent`, {
    sqlstate: '54000',
    hint: `Ask for at most ${max} rows (LIMIT ${max}, a narrower WHERE, or a cursor FETCHing ${max} at a time).`,
  });
}

export function errorResponse(err: GatewayError, severity: 'ERROR' | 'FATAL' = err.severity): Buffer {
  return encodeErrorResponse({ severity, code: err.sqlstate, message: err.message, detail: err.detail, hint: err.hint, position: err.position });
}

/** Whether a Bind or Execute can be read whole (what the server does before it acts on one). */
function readable(tag: number, frame: Buffer): boolean {
  try {
    if (tag === FE.Bind) decodeBind(frame);
    else decodeExecute(frame);
    return true;
  } catch (err) {
    if (err instanceof ProtocolError) return false;
    throw err;
  }
}

/**
 * Whether the server reads a message's SQL text and names the same way whatever client_encoding
 * and standard_conforming_strings it has come to: names that are pure ASCII, and text that is pure
 * ASCII without a backslash (a Query's text, a Parse's name and text; a Bind's two names, an
 * Execute's portal, a Describe's or Close's name). Bytes past them (parameter types, values, a
 * row count) are not read. A message too short to hold them reads the same: it is malformed, and
 * refused as such.
 */
function readsTheSame(frame: Buffer, tag: number): boolean {
  const strings = tag === FE.Parse || tag === FE.Bind ? 2 : tag === FE.Query || tag === FE.Execute ? 1 : 0;
  const from = strings === 0 ? 6 : 5;
  const backslash = tag === FE.Query || tag === FE.Parse;
  let left = strings;
  for (let i = from; i < frame.length; i++) {
    const b = frame[i];
    if (b === 0 && strings > 0 && --left === 0) return true;
    if (b >= 0x80 || (backslash && b === 0x5c)) return false;
  }
  return true;
}

/** Portal and statement names of a Bind, without decoding its parameters. */
function bindNames(frame: Buffer): { portal: string; statement: string } {
  const r = new Reader(frame, 5);
  return { portal: r.cstring(), statement: r.cstring() };
}

export class Session {
  readonly identity: Identity;
  private readonly client: Duplex;
  private readonly upstream: Duplex;
  private readonly lease: UpstreamLease;
  /** The lease wants to know what statements leave on the server connection (`note`). */
  private readonly noting: boolean;
  private sqlFrames = 0;
  private poolNote: LeaseEffect | undefined;
  /** The server connection cannot be trusted any more (it closed, said FATAL, left a pinned setting, or could not be relayed). */
  private upstreamBroken = false;
  private readonly log: Logger;
  private readonly framer: MessageFramer;
  private readonly scanner: StreamScanner;
  private readonly gate: StatementGate;
  private readonly expiresAt: number;
  private expiryTimer: NodeJS.Timeout | null = null;
  /** The server sent a FATAL: when its connection closes, the client has already been told. */
  private upstreamSaidFatal = false;
  /** ReadyForQuery messages owed to the client so far (upstream ones and local ones). */
  private cycles = 0;
  /** ReadyForQuery messages delivered to the client so far. */
  private completed = 0;
  private readonly outbox: LocalReply[] = [];
  private txStatus: TxStatus = 'I';
  private closed = false;
  private ending = false;
  private readonly onClose?: (reason: string) => void;
  private out: Buffer[] = [];
  /** Client frames waiting while the gate is not ready (`oversize`: a statement skipped unread). */
  private inbox: { tag: number; frame: Buffer; oversize?: number }[] = [];
  private waiting = false;
  /** The client sent Terminate: close once what came before it is written. */
  private terminating = false;
  /** Extended protocol: something of the current batch (up to Sync) went upstream. */
  private batchForwarded = false;
  /** Extended protocol: discarding until Sync after a refusal; 'local' when answered locally. */
  private discarding: false | 'local' | 'marker' = false;
  /** Effects of allowed statements of the cycle being built. */
  private batchEffects: unknown[] = [];
  /** Per upstream cycle, in order: its effects and the refusals whose markers it carries. */
  private readonly upstreamCycles: UpstreamCycle[] = [];
  /** Records statements in the audit log and follows their outcomes (null: no audit). */
  private readonly audit: AuditFollower | null;
  /** Audited Executes of the extended batch being built (attached to its cycle at Sync). */
  private batchAudits: AuditEntry[] = [];
  /** Close messages of the batch being built that went upstream, and the CloseCompletes already back for them. */
  private batchCloses = 0;
  private earlyCloses = 0;
  /** Follows result sets when the identity has columns to mask (null: stream untouched). */
  private readonly tracker: ResultTracker | null;
  private readonly rowLimit: RowLimit | null;
  /**
   * Extended protocol: what the batch does from a Parse/Bind of a statement held for review on,
   * kept back (nothing of it is forwarded, tracked or audited) until that statement's Execute is
   * decided: run in order once it is allowed, dropped when it is refused.
   */
  private later: (() => void)[] | null = null;
  /** Bytes of client frames queued while waiting (reading stops past `INBOX_LIMIT`). */
  private inboxBytes = 0;
  private readonly maxStatementSize: number;
  private readonly budget: BufferBudget | null;
  private readonly budgetKey: string;
  /** Client bytes this session holds, as last reported to `budget`. */
  private held = 0;

  constructor(o: SessionOptions) {
    this.identity = o.identity;
    this.client = o.client;
    this.lease = o.upstream;
    this.upstream = o.upstream.stream;
    this.noting = typeof o.upstream.note === 'function';
    this.log = o.logger;
    this.expiresAt = o.expiresAt;
    this.onClose = o.onClose;
    this.gate = o.gate ?? OPEN_GATE;
    this.framer = new MessageFramer(o.maxMessageSize);
    // A statement is never a fatal oversized message: its cap is at most the message cap.
    this.maxStatementSize = Math.min(o.maxStatementSize ?? o.maxMessageSize, o.maxMessageSize - 6);
    if (o.maxStatementSize !== undefined) {
      this.framer.skipOver(FE.Query, this.maxStatementSize + 6);
      this.framer.skipOver(FE.Parse, Math.min(this.maxStatementSize + PARSE_OVERHEAD, o.maxMessageSize));
      this.framer.onOversize = (tag, size) => {
        if (this.waiting) this.inbox.push({ tag, frame: EMPTY, oversize: size });
        else this.oversized(tag, size);
      };
    }
    this.budget = o.budget ?? null;
    this.budgetKey = o.budgetKey ?? `${o.identity.issuer} ${o.identity.subject}`;
    this.scanner = new StreamScanner(16 * 1024 * 1024);
    this.scanner.interesting[BE.ReadyForQuery] = 1;
    this.scanner.interesting[BE.ErrorResponse] = 1;
    // The server reports client_encoding and standard_conforming_strings when they change.
    this.scanner.interesting[BE.ParameterStatus] = 1;
    this.gate.notice = (text) => this.sendNotice(text);
    // The message held is first in the inbox while its review is waited for.
    this.gate.held = (info, params, portal) => {
      const head = this.inbox[0];
      if (head && (head.tag === FE.Query || head.tag === FE.Execute)) this.audit?.held(head.tag === FE.Query ? 'query' : 'execute', info, head.frame, params, portal);
    };
    this.tracker = o.masking ? new ResultTracker(this.scanner, o.masking) : null;
    this.audit = o.audit ? new AuditFollower(o.audit, o.captureRows ?? 0) : null;
    this.rowLimit = o.maxRows ? new RowLimit(o.maxRows, (max) => errorResponse(rowLimitError(this.identity.subject, max))) : null;
    if (this.rowLimit) {
      // Rows are counted from their headers as they pass (`rowAllowance`); result ends reset the count.
      for (const t of [BE.CommandComplete, BE.EmptyQueryResponse, BE.PortalSuspended, BE.CopyOutResponse]) this.scanner.interesting[t] = 1;
    }
    if (this.audit?.capturing) this.scanner.interesting[BE.RowDescription] = 1;
    if (this.tracker) this.tracker.onRowsChanged = () => this.rowInterest();
    this.rowInterest();
    if (this.audit) {
      // Outcomes: one CommandComplete / EmptyQueryResponse / PortalSuspended per statement.
      this.scanner.interesting[BE.CommandComplete] = 1;
      this.scanner.interesting[BE.EmptyQueryResponse] = 1;
      this.scanner.interesting[BE.PortalSuspended] = 1;
    }
    this.clock = o.clock ?? null;
    if (this.clock) {
      // Profiling only: the per-session parts are timed in place (see pipeline.ts).
      if (this.gate !== OPEN_GATE) timeMethods(this.gate, ['query', 'parse', 'bind', 'execute'], 'decide', this.clock, ['query', 'execute']);
      if (this.audit) timeMethods(this.audit, ['begin', 'bind', 'execute', 'refused', 'takePending', 'response'], 'audit', this.clock);
      if (this.tracker) timeMethods(this.tracker, ['query', 'parse', 'bind', 'describe', 'needsDescribe', 'execute', 'close', 'sync', 'message'], 'mask', this.clock);
      if (this.rowLimit) timeMethods(this.rowLimit, ['message'], 'mask', this.clock);
    }
  }

  private readonly clock: StageClock | null;

  /**
   * Start relaying. The caller MUST have written everything the client is owed before this
   * (AuthenticationOk … ReadyForQuery), since upstream bytes flow to the client from here on.
   */
  start(leftover?: Buffer | null, upstreamLeftover?: Buffer | null): void {
    const clock = this.clock;
    if (clock) {
      this.client.on('data', (c: Buffer) => {
        clock.top('relay');
        this.fromClient(c);
        clock.end();
      });
      this.upstream.on('data', (c: Buffer) => {
        clock.top('relay', 'upstream');
        this.fromUpstream(c);
        clock.end();
      });
    } else {
      this.client.on('data', (c: Buffer) => this.fromClient(c));
      this.upstream.on('data', (c: Buffer) => this.fromUpstream(c));
    }
    this.client.on('error', (e) => this.finish(`client error: ${e.message}`));
    this.client.on('close', () => this.finish('client closed the connection'));
    this.client.on('drain', () => this.upstream.resume());
    this.upstream.on('error', (e) => this.upstreamGone(`upstream error: ${e.message}`));
    this.upstream.on('close', () => this.upstreamGone('upstream closed the connection'));
    this.upstream.on('drain', () => this.client.resume());
    if (upstreamLeftover) this.fromUpstream(upstreamLeftover);
    if (leftover) this.fromClient(leftover);
    this.client.resume();
    this.upstream.resume();
    this.armExpiry();
  }

  /**
   * End the session when its token expires (plus the grace), idle or not, rather than at its
   * next statement: an idle session must not outlive the identity's authorisation.
   */
  private armExpiry(): void {
    const wait = this.expiresAt - Date.now();
    if (!Number.isFinite(wait)) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days); a later expiry is armed again then. The
    // wait is armed in steps of a power of two ms (the rest armed again when it fires): Node keeps
    // a list per distinct unref'd duration until that duration has passed, even once its timer is
    // cleared, so an exact wait per session would leave one list per session until its token
    // expired (hours of garbage with a connection per transaction). Powers of two make ~31 lists.
    const step = wait <= 1 ? 0 : 2 ** Math.floor(Math.log2(Math.min(wait, 0x7fffffff)));
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      if (this.closed) return;
      if (Date.now() < this.expiresAt) return this.armExpiry();
      this.terminate(new GatewayError('session.token_expired', `pgwarden: the token of ${this.identity.subject} has expired; the session is ended`));
    }, step);
    this.expiryTimer.unref();
  }

  get transactionStatus(): TxStatus {
    return this.txStatus;
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer): void {
    if (this.closed || this.ending) return;
    // Replies the gateway makes to this read (refusals) leave in one write.
    this.relaying = true;
    try {
      if (this.waiting) this.framer.push(chunk, this.enqueue);
      else this.framer.push(chunk, this.onClientFrame);
    } catch (err) {
      this.relaying = false;
      this.flushClient();
      this.protocolFailure(err);
      return;
    } finally {
      this.relaying = false;
    }
    this.flushClient();
    if (this.overBudget()) return;
    this.flushUpstream();
  }

  /**
   * Report the client bytes held (the memory of an unfinished message, frames queued while
   * waiting) to the budget; past the identity's or the gateway's cap the session is ended and releases them.
   */
  private overBudget(): boolean {
    if (!this.budget) return false;
    const now = this.framer.reserved + this.inboxBytes;
    const over = this.budget.change(this.budgetKey, now - this.held);
    this.held = now;
    if (!over) return false;
    const whose = over.cap === 'identity' ? `for ${this.identity.subject} (limits.max_buffered_per_identity)` : 'for all sessions (limits.max_buffered_total)';
    this.log.warn({ subject: this.identity.subject, cap: over.cap, limit: over.limit }, 'client bytes held over the limit; the session is ended');
    this.terminate(new GatewayError('protocol.buffer_limit', `pgwarden: the gateway holds at most ${over.limit} bytes of unfinished or queued messages ${whose}; the session is ended`));
    return true;
  }

  /** A Query or Parse over `maxStatementSize`: refused (54000) unread, the session goes on. */
  private oversized(tag: number, size: number): void {
    if (this.ending) return;
    if (this.discarding) return;
    const err = new GatewayError('sql.too_large', `pgwarden: the statement (a message of ${size} bytes) exceeds the limit of ${this.maxStatementSize} bytes (limits.max_statement_size); it was not read`);
    const info: VerdictInfo = { text: `(statement of ${size} bytes, not read)`, rule: 'limits.max_statement_size' };
    if (tag === FE.Query) {
      this.release();
      this.refuseQuery(err, 'query', info, EMPTY);
    } else this.refuseInBatch(err, 'parse', info, EMPTY);
  }

  private readonly enqueue = (tag: number, frame: Buffer): void => {
    // The chunk may be reused by the socket: keep a copy.
    this.inbox.push({ tag, frame: Buffer.from(frame) });
    this.inboxBytes += frame.length;
    if (this.inboxBytes > INBOX_LIMIT) this.client.pause();
  };

  /**
   * Hold client frames until `ready` settles, then run `then` and go on in order. When `ready`
   * rejects and `onFail` is given, `onFail` runs instead and nothing more is processed.
   */
  private wait(ready: Promise<unknown>, then?: () => void, onFail?: (err: unknown) => void, keepReading = false): void {
    this.waiting = true;
    // A paused socket does not notice that its peer closed: while a statement is held (for
    // review, for as long as a human takes), reading goes on into the inbox so that a client
    // that leaves ends the session at once (`finish`), not whenever the hold ends.
    if (!keepReading) this.client.pause();
    ready.then(
      () => this.resume(then),
      (err) => {
        if (onFail) onFail(err);
        else this.resume(then);
      },
    );
  }

  private resume(then?: () => void): void {
    if (this.closed) return;
    this.waiting = false;
    then?.();
    if (this.terminating) {
      this.closeAfterTerminate();
      return;
    }
    const queued = this.inbox;
    this.inbox = [];
    this.inboxBytes = 0;
    try {
      for (let i = 0; i < queued.length; i++) {
        if (this.waiting) {
          // Waiting again (DDL, audit): put the rest back in order.
          this.inbox.push(...queued.slice(i));
          break;
        }
        const q = queued[i];
        if (q.oversize !== undefined) this.oversized(q.tag, q.oversize);
        else this.onClientFrame(q.tag, q.frame);
      }
    } catch (err) {
      this.protocolFailure(err);
      return;
    }
    if (this.overBudget()) return;
    this.flushUpstream();
    if (!this.waiting && !this.closed) this.client.resume();
  }

  private readonly onClientFrame = (tag: number, frame: Buffer): void => {
    if (this.ending) return;
    if (this.waiting) {
      this.inbox.push({ tag, frame: Buffer.from(frame) });
      return;
    }
    if (this.copyIn !== null && this.duringCopyIn(tag, frame)) return;
    if (this.discarding) {
      if (tag === FE.Sync) this.sync(frame);
      else if (this.refusedRuns) this.followRefused(tag, frame, this.refusedRuns);
      return;
    }
    switch (tag) {
      case FE.Query:
      case FE.Parse: {
        if (tag === FE.Query && this.serverSkipping()) return;
        if (this.expired()) return;
        const ready = this.gate.ready() ?? this.settingsReported(frame, tag);
        if (ready) {
          this.hold(tag, frame, ready);
          return;
        }
        if (tag === FE.Query) {
          let text: string;
          try {
            text = decodeQuery(frame);
          } catch (err) {
            this.malformed(tag, frame, err);
            return;
          }
          this.release();
          if (this.cancelHere()) {
            this.refuseQuery(cancelled(), 'query', { text, rule: 'cancel' }, frame);
            return;
          }
          const v = this.gate.query(text);
          if (v.ok === 'retry') this.hold(tag, frame, v.retry);
          else if (v.ok) {
            if (v.effect !== undefined) this.batchEffects.push(v.effect);
            this.tracker?.query(v.results ?? []);
            if (v.pool) this.poolNote = v.pool;
            const audits = this.audit ? [this.audit.begin('query', v.info, [frame])] : [];
            this.forwardCycle(frame, [], audits);
            if (v.copyIn) this.copyInMayBegin(v.copyIn, true);
          } else this.refuseQuery(v.error, 'query', v.info, frame, v.rollback);
        } else {
          let p: ReturnType<typeof decodeParse>;
          try {
            p = decodeParse(frame);
          } catch (err) {
            this.malformed(tag, frame, err);
            return;
          }
          if (p.text.length > this.maxStatementSize / 4 && Buffer.byteLength(p.text) > this.maxStatementSize) {
            this.oversized(tag, frame.length);
            return;
          }
          const v = this.gate.parse(p.name, p.text, p.paramTypes);
          if (v.ok === 'retry') this.hold(tag, frame, v.retry);
          else if (v.ok) {
            if (v.defer) this.later ??= [];
            const bytes = this.later ? Buffer.from(frame) : frame;
            this.act(() => {
              if (v.effect !== undefined) this.batchEffects.push(v.effect);
              this.tracker?.parse();
              if (v.pool) this.poolNote = v.pool;
              this.forwardInBatch(bytes);
            });
          } else {
            const how = this.refuseInBatch(v.error, 'parse', v.info, frame);
            // A refused COMMIT / PREPARE TRANSACTION ends the block only if it is run in this batch.
            if (v.rollback !== undefined && how === 'marker') this.refusedRuns = { statement: p.name, portals: new Set(), effect: v.rollback };
          }
        }
        return;
      }
      case FE.Bind: {
        let names: { portal: string; statement: string };
        let b: ReturnType<typeof decodeBind> | null;
        try {
          names = bindNames(frame);
          // Read whole before the gate records the portal: a Bind the server cannot read binds nothing.
          b = this.tracker || this.audit ? decodeBind(frame) : null;
        } catch (err) {
          this.malformed(tag, frame, err);
          return;
        }
        const reported = this.settingsReported(frame, tag);
        if (reported) {
          this.hold(tag, frame, reported);
          return;
        }
        const v = this.gate.bind(names.portal, names.statement, () => {
          try {
            return (b ?? decodeBind(frame)).params;
          } catch {
            return null;
          }
        });
        if (v && v.ok === 'retry') {
          this.hold(tag, frame, v.retry);
          return;
        }
        if (v && v.ok === false) {
          this.refuseInBatch(v.error, 'execute', v.info, frame);
          return;
        }
        if (v?.defer) this.later ??= [];
        const bytes = this.later ? Buffer.from(frame) : frame;
        const params = b?.params.map((p, i) => (p === null ? null : (b.paramFormats.length === 1 ? b.paramFormats[0] : (b.paramFormats[i] ?? 0)) === 1 ? `base64:${p.toString('base64')}` : p.toString('utf8')));
        // The portal's one record (a gate without a ledger gives none: these facts then serve no Execute).
        const portal = v?.portal ?? newPortalFacts(null);
        // Reviews bind an approval to the parameters: on the portal's record before the Execute.
        if (params) portal.params = params;
        this.act(() => {
          if (v && v.effect !== undefined) this.batchEffects.push(v.effect);
          if (b && params) {
            this.tracker?.bind(portal, b.resultFormats);
            this.audit?.bind(portal, bytes, params);
          }
          this.forwardInBatch(bytes);
        });
        return;
      }
      case FE.Execute: {
        if (this.expired()) return;
        let portal: string;
        try {
          portal = decodeExecute(frame).portal;
        } catch (err) {
          this.malformed(tag, frame, err);
          return;
        }
        const reported = this.settingsReported(frame, tag);
        if (reported) {
          this.hold(tag, frame, reported);
          return;
        }
        if (this.cancelHere()) {
          this.later = null;
          this.refuseInBatch(cancelled(), 'execute', { text: `(Execute of portal "${portal}")`, rule: 'cancel' }, frame);
          return;
        }
        const v = this.gate.execute(portal);
        if (v.ok === 'retry') this.hold(tag, frame, v.retry);
        else if (v.ok) {
          // Decided (approved, or not held): what was held back of the batch goes first.
          this.release();
          if (v.effect !== undefined) this.batchEffects.push(v.effect);
          if (this.tracker) {
            // Rows are masked by the server's own description of them: ask for it if the client
            // did not (the answer is swallowed). A portal the gate gives no record of is described.
            const facts = v.portal ?? newPortalFacts(null);
            if (this.tracker.needsDescribe(facts)) {
              this.tracker.describe('P', facts, true);
              this.forwardInBatch(encodeDescribe('P', portal));
            }
            this.tracker.execute(facts, v.results?.[0]);
          }
          if (this.audit) this.batchAudits.push(this.audit.execute(v.portal, v.info, frame));
          this.forwardInBatch(frame);
          if (v.copyIn) this.copyInMayBegin(v.copyIn, false);
        } else {
          // Refused: nothing held back of it reaches the server.
          this.later = null;
          const how = this.refuseInBatch(v.error, 'execute', v.info, frame);
          if (v.rollback !== undefined && how === 'marker') this.pendingRollback = v.rollback;
        }
        return;
      }
      case FE.Describe: {
        if (this.misreadName(tag, frame)) return;
        const bytes = this.later ? Buffer.from(frame) : frame;
        // The record the name means at this point of the batch (read now, as the gate reads names).
        let d: ReturnType<typeof decodeTarget> | null;
        try {
          d = this.tracker ? decodeTarget(bytes, 'Describe') : null;
        } catch (err) {
          this.malformed(tag, frame, err);
          return;
        }
        const facts = d ? this.gate.describe?.(d.target, d.name) : undefined;
        this.act(() => {
          if (d) this.tracker?.describe(d.target, facts);
          this.forwardInBatch(bytes);
        });
        return;
      }
      case FE.Close: {
        if (this.misreadName(tag, frame)) return;
        const bytes = this.later ? Buffer.from(frame) : frame;
        let c: ReturnType<typeof decodeTarget>;
        try {
          c = decodeTarget(bytes, 'Close');
        } catch (err) {
          this.malformed(tag, frame, err);
          return;
        }
        const effect = this.gate.close(c.target, c.name);
        this.act(() => {
          if (effect !== undefined) this.batchEffects.push(effect);
          this.tracker?.close();
          this.forwardInBatch(bytes);
          this.batchCloses++;
          this.scanner.interesting[BE.CloseComplete] = 1;
        });
        return;
      }
      case FE.Flush:
        // The client waits for what it sent so far (a describe-first driver): it goes up now.
        this.release();
        this.forwardInBatch(frame);
        return;
      case FE.Sync:
        this.release();
        this.sync(frame);
        return;
      case FE.FunctionCall:
        if (this.serverSkipping()) return;
        // The fast-path function call names a function by OID with no SQL text to analyse.
        this.refuseQuery(
          new GatewayError('protocol.unsupported', 'pgwarden: the FunctionCall message is not supported', {
            hint: 'Call the function with a SELECT statement instead.',
          }),
          'function_call',
          { text: '(FunctionCall message)', rule: 'protocol' },
          frame,
        );
        return;
      case FE.Terminate:
        // Whatever was held back never runs. The client's Terminate ends its session, not the
        // server connection: what happens to that is the lease's (see closeAfterTerminate).
        this.later = null;
        this.terminating = true;
        this.flushUpstream();
        if (!this.waiting) this.closeAfterTerminate();
        return;
      default: {
        // CopyData, CopyDone, CopyFail: part of the cycle of the Query or Execute that began the
        // COPY (they open no batch: a simple Query's COPY ends at its own ReadyForQuery).
        const bytes = this.later ? Buffer.from(frame) : frame;
        this.act(() => this.forward(bytes));
      }
    }
  };

  /**
   * COPY … FROM STDIN. While the server reads COPY data it ignores Sync and Flush (libpq sends a
   * Sync right behind a COPY it runs with the extended protocol), and ends the connection on any
   * other message but CopyData, CopyDone and CopyFail. Whether it reads COPY data is known only
   * from its answer, so the client's messages behind a statement that may begin a COPY wait for
   * it (`pending`): a CopyInResponse (`active`), or an ErrorResponse or ReadyForQuery (it did
   * not, or stopped). While `active`, a Sync or Flush is dropped as the server drops it: it
   * opens no cycle, so every later answer stays matched with its own statement. `left`: the
   * COPY … FROM STDIN statements of the Query (or Execute) not yet begun or ended; `before`: the
   * ReadyForQuery the server owes for cycles before the COPY's (their answers tell nothing).
   */
  private copyIn: { state: 'pending' | 'active'; left: number; query: boolean; before: number; answered: Promise<void>; answer: () => void } | null = null;

  /** A Query or Execute that runs `count` COPY … FROM STDIN statements went upstream. */
  private copyInMayBegin(count: number, query: boolean): void {
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    // A Query's own cycle is the last one pushed; an Execute's batch has none yet.
    const before = this.upstreamCycles.length - (query ? 1 : 0);
    this.copyIn = { state: 'pending', left: count, query, before, answered, answer };
    this.scanner.interesting[BE.CopyInResponse] = 1;
  }

  /** The server's answer tells whether it reads COPY data now (see `copyIn`). */
  private copyInAnswer(tag: number): void {
    const c = this.copyIn!;
    if (c.before > 0) {
      if (tag === BE.ReadyForQuery) c.before--;
      return;
    }
    if (tag === BE.CopyInResponse) {
      if (c.state === 'pending') {
        c.state = 'active';
        c.answer();
      }
      return;
    }
    if (tag !== BE.ErrorResponse && tag !== BE.ReadyForQuery) return;
    // An error ends the COPY (and the rest of its Query); ReadyForQuery ends the Query.
    this.copyInOver();
    c.answer();
  }

  /** No COPY … FROM STDIN can run any more: CopyInResponse is read again only if masking reads it. */
  private copyInOver(): void {
    this.copyIn = null;
    this.scanner.interesting[BE.CopyInResponse] = this.tracker ? 1 : 0;
  }

  /** A client message while a COPY … FROM STDIN may run: true when it was handled here. */
  private duringCopyIn(tag: number, frame: Buffer): boolean {
    const c = this.copyIn!;
    if (c.state === 'pending') {
      this.hold(tag, frame, c.answered);
      return true;
    }
    switch (tag) {
      case FE.CopyData:
      case FE.Terminate:
        return false;
      case FE.Sync:
      case FE.Flush:
        // The server ignores it while it reads COPY data: it is not sent, and answers nothing.
        return true;
      case FE.CopyDone:
      case FE.CopyFail:
        this.forward(Buffer.from(frame));
        // Another COPY of the same Query may begin after this one; an Execute runs one.
        if (c.query && --c.left > 0) this.copyInMayBegin(c.left, true);
        else this.copyInOver();
        return true;
      default:
        // PostgreSQL answers this with an ERROR and ends the connection; so does the gateway,
        // without sending it (an older server would read the message, and run what follows).
        this.upstreamBroken = true;
        if (this.scanner.atBoundary) {
          const what = `unexpected message type 0x${tag.toString(16).toUpperCase()} during COPY from stdin`;
          this.writeClient(errorResponse(new GatewayError('protocol.malformed', `pgwarden: ${what}`), 'ERROR'));
        }
        this.terminate(new GatewayError('protocol.violation', 'pgwarden: terminating connection because protocol synchronization was lost'));
        return true;
    }
  }

  /**
   * The server reads a statement in its current client_encoding and standard_conforming_strings,
   * and reports a change of them only at the end of the cycle that made it (ParameterStatus before
   * ReadyForQuery). Text that is pure ASCII without backslashes reads the same under every value
   * the server accepts, and so do ASCII names; anything else is held until every earlier cycle
   * has completed, so that a change made behind the gateway's back (a function calling set_config
   * with a computed name) ends the session before the server reads it. Null when there is
   * nothing to wait for. (Within one extended-protocol batch the server reports nothing before
   * Sync: the gate refuses such text after code that may change them, see `lexingUnsettled`.)
   */
  private settingsReported(frame: Buffer, tag: number): Promise<void> | null {
    if (this.completed >= this.cycles) return null;
    if (readsTheSame(frame, tag)) return null;
    const until = this.cycles;
    return new Promise<void>((resolve) => this.cycleWaiters.push({ until, resolve }));
  }

  /**
   * A Describe or Close whose name the server could read otherwise than the gateway: held while
   * an earlier cycle may still report a new client_encoding, refused after code in the same
   * pipeline that may change it (see `settingsReported`, `lexingUnsettled`). True when it was
   * held or refused.
   */
  private misreadName(tag: number, frame: Buffer): boolean {
    if (readsTheSame(frame, tag)) return false;
    const reported = this.settingsReported(frame, tag);
    if (reported) {
      this.hold(tag, frame, reported);
      return true;
    }
    if (!this.gate.lexingUnsettled?.()) return false;
    const err = new GatewayError(
      'policy.denied',
      'pgwarden: an earlier statement of this pipeline runs code that may change client_encoding (a DO block, a procedure or a function that sets settings), and the server would read a name that is not plain ASCII only after that code ran, possibly not as the gateway read it',
      { hint: 'Send a Sync before this message (end the pipeline), so that the gateway sees the settings first.' },
    );
    this.refuseInBatch(err, 'execute', { text: `(${tag === FE.Describe ? 'Describe' : 'Close'} message)`, rule: 'builtin:session-hardening' }, frame);
    return true;
  }

  /** Holds waiting for the delivered ReadyForQuery count to reach `until`. */
  private cycleWaiters: { until: number; resolve: () => void }[] = [];

  private cycleCompleted(): void {
    this.completed++;
    if (this.cycleWaiters.length === 0) return;
    const due = this.cycleWaiters.filter((w) => this.completed >= w.until);
    this.cycleWaiters = this.cycleWaiters.filter((w) => this.completed < w.until);
    for (const w of due) w.resolve();
  }

  /** Put this frame back first in line and wait; it is decided again afterwards. */
  private hold(tag: number, frame: Buffer, until: Promise<void>): void {
    this.inbox.unshift({ tag, frame: Buffer.from(frame) });
    this.wait(until, undefined, undefined, true);
  }

  /** Run now, or keep for later when the batch is held back (see `later`). */
  private act(f: () => void): void {
    if (this.later) this.later.push(f);
    else f();
  }

  /** The held-back part of the batch goes on, in order. */
  private release(): void {
    const later = this.later;
    this.later = null;
    if (later) for (const f of later) f();
  }

  /** A NoticeResponse from the gateway, sent as soon as the stream to the client allows. */
  private sendNotice(text: string): void {
    if (this.closed) return;
    this.outbox.push({ after: 0, bytes: [encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: text })], readyForQuery: false, fatal: false });
    this.drainOutbox();
  }

  /**
   * A CancelRequest for this session; `send` asks the server to cancel what it runs now.
   * A statement held for review has not reached the database: abandoning it is the cancel.
   * While the server runs the gateway's own read-back of search_path, cancelling would fail the
   * read-back (and abort the client's transaction block) instead of anything the client sent: the
   * cancel then waits for the client's next work to reach the server, and is dropped when the
   * client has none on its way (PostgreSQL ignores a cancel that finds its session idle).
   */
  cancel(send: () => Promise<void> | void): Promise<void> | void {
    if (this.gate.cancelWait?.()) return;
    if (this.readbacks > 0 && this.upstreamCycles[0]?.readback) {
      // Settles when it is sent and delivered, or dropped (see `RegisteredSession.cancel`).
      this.dropCancel();
      return new Promise<void>((done) => (this.cancelAfterReadback = { send, done }));
    }
    return send();
  }

  /** A cancel that arrived during a read-back, for the client's work behind it (see `cancel`). */
  private cancelAfterReadback: { send: () => Promise<void> | void; done: () => void } | null = null;

  private sendCancel(): void {
    const c = this.cancelAfterReadback!;
    this.cancelAfterReadback = null;
    void Promise.resolve(c.send()).finally(c.done);
  }

  private dropCancel(): void {
    const c = this.cancelAfterReadback;
    this.cancelAfterReadback = null;
    c?.done();
  }

  /** A cancel was kept during a read-back, and no read-back runs any more: it is for the client's work now. */
  private get cancelDue(): boolean {
    return this.cancelAfterReadback !== null && this.readbacks === 0;
  }

  /**
   * A cancel that waited for a read-back, met by the client's next statement before anything of
   * the client's went upstream: that statement is the one cancelled, answered by the gateway
   * with PostgreSQL's error instead of being sent. Sending it and then the CancelRequest would
   * race: a cancel that reaches the server before it starts the statement is ignored, and the
   * statement would run to its end.
   */
  private cancelHere(): boolean {
    if (!this.cancelDue) return false;
    this.dropCancel();
    return true;
  }

  /** A read-back ended: send or drop a cancel that arrived during it. */
  private cancelBehindReadback(): void {
    if (!this.cancelDue) return;
    // The client's work already went upstream behind the read-back: the server runs it now.
    if (this.upstreamCycles.length > 0 || this.batchForwarded) this.sendCancel();
    else if (!this.waiting && this.inbox.length === 0) this.dropCancel();
    // Otherwise it is held (it waited for the read-back): sent once written upstream (writeUpstream).
  }

  /** The client said Terminate and everything before it has been written upstream. */
  private closeAfterTerminate(): void {
    this.ending = true;
    this.lease.release(this.releaseMode());
    this.client.end();
  }

  /** The state the server connection is left in (see `ReleaseMode`). */
  private releaseMode(): ReleaseMode {
    if (this.upstreamBroken || this.upstreamSaidFatal) return 'broken';
    const idle = this.upstreamCycles.length === 0 && this.txStatus === 'I' && !this.batchForwarded && this.out.length === 0;
    return idle ? 'clean' : 'dirty';
  }

  private expired(): boolean {
    if (Date.now() <= this.expiresAt) return false;
    this.endWith(new GatewayError('session.token_expired', `pgwarden: the token of ${this.identity.subject} has expired; the session is ended`));
    return true;
  }

  /**
   * A Query or FunctionCall of a batch one of whose extended-protocol messages already failed
   * upstream (the error came back before it, after a Flush): PostgreSQL skips it up to Sync,
   * without an answer, and so does the gateway.
   */
  private serverSkipping(): boolean {
    return this.batchForwarded && this.early.failed;
  }

  /**
   * An extended-protocol message before a Query of the same batch failed (see
   * `UpstreamCycle.boundary`): the server skips everything up to the next Sync, so the cycles of
   * that Query and of any later Query before the Sync end without a ReadyForQuery; what they
   * would have run never did. The Sync's cycle, or the batch still being built, failed.
   */
  private serverSkipsToSync(): void {
    while (this.upstreamCycles[0]?.query) {
      const c = this.upstreamCycles.shift()!;
      this.audit?.skipped(c);
      this.cycleCompleted();
      if (c.rollback) this.rollbackEnded();
      this.gate.cycleDone(c.effects, true, { error: 'upstream', status: this.txStatus });
    }
    const sync = this.upstreamCycles[0];
    if (sync) {
      sync.failed = true;
      sync.upstreamFailed = true;
    } else this.early = { failed: true, upstreamFailed: true, marker: false };
    this.rowInterest();
    this.drainOutbox();
  }

  /** Forward a message that ends a cycle (Query, Sync): the upstream owes one ReadyForQuery for it. */
  private forwardCycle(frame: Buffer, refusals: GatewayError[] = [], audits: AuditEntry[] = []): void {
    const query = frame[0] !== FE.Sync;
    let boundary: UpstreamCycle['boundary'];
    if (query && this.batchForwarded) {
      // The batch's Executes answer before the Query does: their records are this cycle's.
      audits = [...this.batchAudits, ...audits];
      this.batchAudits = [];
      this.forward(BOUNDARY_CLOSE);
      this.scanner.interesting[BE.CloseComplete] = 1;
      boundary = { closesLeft: this.batchCloses - this.earlyCloses, passed: false };
    }
    this.forward(frame);
    this.cycles++;
    this.batchCloses = 0;
    this.earlyCloses = 0;
    const early = this.early;
    this.early = NO_EARLY_ERROR;
    const cycle: UpstreamCycle = { effects: this.batchEffects, refusals: early.marker ? [] : refusals, failed: early.failed, upstreamFailed: early.upstreamFailed, audits, auditPos: 0 };
    if (query) cycle.query = true;
    if (boundary) cycle.boundary = boundary;
    this.upstreamCycles.push(cycle);
    if (this.upstreamCycles.length === 1) this.rowInterest();
    this.gate.batchEnd?.(this.batchEffects, true);
    this.batchEffects = [];
  }

  /** The cycle being built is answered by the gateway: nothing of it went upstream. */
  private localCycle(): void {
    this.cycles++;
    this.gate.batchEnd?.([], false);
    this.batchEffects = [];
    // Refused before reaching the server: a cancel waiting for it has nothing left to cancel.
    if (this.readbacks === 0) this.dropCancel();
  }

  private forwardInBatch(frame: Buffer): void {
    this.forward(frame);
    this.batchForwarded = true;
  }

  private sync(frame: Buffer): void {
    const mode = this.discarding;
    this.discarding = false;
    if (mode === 'local') {
      // Nothing of this batch went upstream: answer the Sync here.
      this.outbox.push({ after: this.cycles, bytes: [], readyForQuery: true, fatal: false });
      this.localCycle();
      this.drainOutbox();
    } else {
      this.tracker?.sync();
      this.forwardCycle(frame, this.pendingRefusal ? [this.pendingRefusal] : [], this.batchAudits);
      if (this.pendingRollback !== undefined) this.rollbackAfter(this.pendingRollback);
    }
    this.batchAudits = [];
    this.pendingRefusal = null;
    this.pendingRollback = undefined;
    this.refusedRuns = null;
    this.batchForwarded = false;
  }

  private pendingRefusal: GatewayError | null = null;
  /**
   * An error the upstream sent for the batch being built, before its Sync (the client sent a
   * Flush, as describe-first drivers do): it belongs to the cycle that Sync makes.
   */
  private early: { failed: boolean; upstreamFailed: boolean; marker: boolean } = NO_EARLY_ERROR;
  /** The batch's refusal ends the transaction block: a ROLLBACK follows its Sync (this is its effect). */
  private pendingRollback: unknown = undefined;
  /**
   * A refused Parse of a COMMIT / PREPARE TRANSACTION: the server would end the block only when
   * the batch goes on to execute it (Bind of that statement, Execute of that portal), which the
   * discarded messages tell.
   */
  private refusedRuns: { statement: string; portals: Set<string>; effect: unknown } | null = null;

  private followRefused(tag: number, frame: Buffer, r: { statement: string; portals: Set<string>; effect: unknown }): void {
    // Skipped up to Sync: one the server would not read either (malformed) binds and runs nothing.
    if ((tag === FE.Bind || tag === FE.Execute) && !readable(tag, frame)) return;
    if (tag === FE.Bind) {
      const names = bindNames(frame);
      if (names.statement === r.statement) r.portals.add(names.portal);
      else r.portals.delete(names.portal);
    } else if (tag === FE.Execute && r.portals.has(decodeExecute(frame).portal)) {
      this.pendingRollback = r.effect;
      this.refusedRuns = null;
    }
  }

  /**
   * After a refused COMMIT / PREPARE TRANSACTION whose marker went upstream (the block was open,
   * or may have been): PostgreSQL rolls a block back when such a statement fails, and reports
   * Idle. A ROLLBACK follows the marker's cycle so the server does the same; the client gets
   * the refusal and the ROLLBACK's ReadyForQuery, as one cycle.
   */
  private rollbackAfter(effect: unknown): void {
    this.upstreamCycles[this.upstreamCycles.length - 1].rollbackNext = true;
    this.forward(ROLLBACK_QUERY);
    this.upstreamCycles.push({ effects: [effect], refusals: [], failed: false, upstreamFailed: false, audits: [], auditPos: 0, rollback: true, query: true });
    this.gate.batchEnd?.([effect], true);
    const i = this.scanner.interesting;
    if (this.rollbacks++ === 0) this.savedInteresting = [i[BE.CommandComplete], i[BE.NoticeResponse]];
    i[BE.CommandComplete] = 1;
    i[BE.NoticeResponse] = 1;
  }

  /** ROLLBACKs of refusals in flight, and the scanner's marks they changed. */
  private rollbacks = 0;
  private savedInteresting: [number, number] = [0, 0];

  /** The ROLLBACK after a refusal: only its ReadyForQuery, ParameterStatus and errors reach the client. */
  private rollbackMessage(tag: number, frame: Buffer, cycle: UpstreamCycle): void {
    if (tag === BE.CommandComplete || tag === BE.NoticeResponse) return;
    this.writeClient(frame);
    if (tag !== BE.ReadyForQuery) return;
    this.txStatus = String.fromCharCode(frame[5]) as TxStatus;
    this.cycleCompleted();
    this.upstreamCycles.shift();
    this.rollbackEnded();
    this.gate.cycleDone(cycle.effects, false, { error: 'none', status: this.txStatus });
    this.readBackIfWanted();
    this.drainOutbox();
  }

  /** A refusal's ROLLBACK is over (answered, or skipped by the server): the scanner's marks go back once none is in flight. */
  private rollbackEnded(): void {
    if (--this.rollbacks === 0) [this.scanner.interesting[BE.CommandComplete], this.scanner.interesting[BE.NoticeResponse]] = this.savedInteresting;
  }

  /**
   * After a cycle of the client's: read the server's search_path when the gate wants it (code it
   * cannot follow ran) and the server has nothing else of the client's to answer. The gate holds
   * any statement whose names depend on the path until its answer is in.
   */
  private readBackIfWanted(): void {
    if (this.closed || this.ending || this.upstreamBroken) return;
    // Not inside a batch the client has begun upstream (a Query there would run in the middle of
    // its pipeline): the path stays unknown, and is read back after a later cycle.
    if (this.batchForwarded || this.discarding !== false) return;
    // Nor while later cycles are in flight (one may be a COPY the server is reading data for).
    if (this.upstreamCycles.length > 0) return;
    const effect = this.gate.pathReadback?.(this.txStatus);
    if (effect === undefined) return;
    this.forward(READBACK_QUERY);
    this.upstreamCycles.push({ effects: [effect], refusals: [], failed: false, upstreamFailed: false, audits: [], auditPos: 0, readback: { effect, value: null } });
    this.gate.batchEnd?.([effect], true);
    if (this.readbacks++ === 0) this.scanner.interesting[BE.NotificationResponse] = 1;
    this.rowInterest();
    // Called while relaying the server's answer: nothing of the client's is going upstream now.
    this.flushUpstream();
  }

  /** Read-backs in flight (the relay looks for one only then; NotificationResponse is read while any is, to pass it on). */
  private readbacks = 0;

  /** A message of a read-back: its value is kept; only notifications and ParameterStatus reach the client. */
  private readbackMessage(tag: number, frame: Buffer, cycle: UpstreamCycle): void {
    const rb = cycle.readback!;
    if (tag === BE.DataRow) {
      rb.value = decodeDataRow(frame)[0] ?? null;
      return;
    }
    if (tag === BE.NotificationResponse || tag === BE.ParameterStatus) {
      this.writeClient(frame);
      return;
    }
    if (tag === BE.ErrorResponse) {
      cycle.failed = cycle.upstreamFailed = true;
      this.log.warn({ err: decodeFields(frame).M }, 'search_path could not be read back');
      return;
    }
    if (tag !== BE.ReadyForQuery) return;
    this.txStatus = String.fromCharCode(frame[5]) as TxStatus;
    this.upstreamCycles.shift();
    if (--this.readbacks === 0) this.scanner.interesting[BE.NotificationResponse] = 0;
    if (!cycle.failed && rb.value !== null) {
      this.log.debug({ value: rb.value }, 'search_path read back');
      this.gate.pathObserved?.(rb.effect, rb.value);
    }
    this.gate.cycleDone(cycle.effects, cycle.failed, { error: cycle.failed ? 'upstream' : 'none', status: this.txStatus });
    this.drainOutbox();
    this.cancelBehindReadback();
  }

  /** Nothing in flight, nothing open: a refusal can be answered without the upstream. */
  private get quiet(): boolean {
    return this.completed === this.cycles && this.txStatus === 'I' && this.outbox.length === 0;
  }

  /**
   * A message whose length frames it but whose content cannot be read (a string without its
   * NUL, bytes after a Query's text, a Bind shorter than its values, a Close of neither 'S' nor
   * 'P'): PostgreSQL answers ERROR 08P01 and goes on (a Query ends its cycle; in the extended
   * protocol the rest up to Sync is skipped), since the stream is still framed. So does the
   * gateway; the message never reaches the server. Anything else thrown is not the client's
   * doing and goes on up.
   */
  private malformed(tag: number, frame: Buffer, err: unknown): void {
    if (!(err instanceof ProtocolError)) throw err;
    const what = tag === FE.Query ? 'Query' : tag === FE.Parse ? 'Parse' : tag === FE.Bind ? 'Bind' : tag === FE.Execute ? 'Execute' : tag === FE.Describe ? 'Describe' : 'Close';
    const e = new GatewayError('protocol.malformed', `pgwarden: invalid ${what} message: ${err.message}`);
    const info: VerdictInfo = { text: `(malformed ${what} message)`, rule: 'protocol' };
    this.log.warn({ subject: this.identity.subject, err: err.message }, 'malformed message refused');
    if (tag === FE.Query) {
      this.release();
      this.refuseQuery(e, 'query', info, frame);
    } else this.refuseInBatch(e, tag === FE.Parse ? 'parse' : 'execute', info, frame);
  }

  /** Refuse a simple Query (or FunctionCall): a whole cycle. */
  private refuseQuery(err: GatewayError, kind: 'query' | 'function_call', info: VerdictInfo | undefined, frame: Buffer, rollback?: unknown): void {
    this.logRefusal(err);
    this.audit?.refused(kind, err, info, frame);
    // Extended-protocol messages sent before it without a Sync are answered first, and the Query
    // ends their implicit transaction (failing it, as the statement failing on the server would):
    // the refusal goes in their place, never ahead of them.
    if (this.quiet && !this.batchForwarded) {
      this.outbox.push({ after: this.cycles, bytes: [errorResponse(err, 'ERROR')], readyForQuery: true, fatal: false });
      this.localCycle();
      this.drainOutbox();
    } else {
      this.tracker?.query([]);
      this.forwardCycle(MARKER_QUERY, [err]);
      if (rollback !== undefined) this.rollbackAfter(rollback);
    }
  }

  /** Refuse an extended-protocol message: error now or in place, then discard until Sync. */
  private refuseInBatch(err: GatewayError, kind: 'parse' | 'execute', info: VerdictInfo | undefined, frame: Buffer): 'local' | 'marker' {
    this.logRefusal(err);
    this.audit?.refused(kind, err, info, frame);
    if (!this.batchForwarded && this.quiet) {
      this.outbox.push({ after: this.cycles, bytes: [errorResponse(err, 'ERROR')], readyForQuery: false, fatal: false });
      this.drainOutbox();
      this.discarding = 'local';
    } else {
      this.tracker?.parse();
      this.forward(MARKER_PARSE);
      this.batchForwarded = true;
      this.pendingRefusal = err;
      this.discarding = 'marker';
    }
    return this.discarding;
  }

  private logRefusal(err: GatewayError): void {
    this.log.info({ subject: this.identity.subject, sqlstate: err.sqlstate, reason: err.message }, 'statement refused');
  }

  /**
   * Queue a frame for the upstream. Frames that lie back to back in the same input chunk are
   * merged into one view, so an untouched pipelined batch goes upstream as the bytes it came in.
   */
  private forward(frame: Buffer): void {
    if (this.noting) {
      // A per-transaction lease counts the Query and Parse messages it is given the same way.
      const tag = frame[0];
      if (tag === FE.Query || tag === FE.Parse) {
        this.sqlFrames++;
        if (this.poolNote) {
          this.lease.note!(this.sqlFrames, this.poolNote);
          this.poolNote = undefined;
        }
      }
    }
    const out = this.out;
    const last = out.length > 0 ? out[out.length - 1] : undefined;
    if (last && last.buffer === frame.buffer && last.byteOffset + last.length === frame.byteOffset) {
      out[out.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + frame.length);
    } else out.push(frame);
  }

  private flushUpstream(): void {
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    const durable = this.audit?.takePending();
    if (durable) {
      // Write-ahead: these bytes go upstream only once their audit records are durable.
      this.wait(
        durable,
        () => this.writeUpstream(out),
        (err) => {
          this.log.error({ err: (err as Error)?.message }, 'the audit log could not record a statement; the session is ended and nothing was run');
          this.ending = true;
          this.terminate(new GatewayError('audit.unavailable', 'pgwarden: the audit log could not record the statement, so it was not run; the session is ended', { sqlstate: '58000' }));
        },
      );
      return;
    }
    this.writeUpstream(out);
  }

  private writeUpstream(out: Buffer[]): void {
    let ok: boolean;
    if (out.length === 1) ok = this.upstream.write(out[0]);
    else {
      this.upstream.cork();
      for (const b of out) this.upstream.write(b);
      this.upstream.uncork();
      ok = !this.upstream.writableNeedDrain;
    }
    if (!ok) this.client.pause();
    if (this.cancelDue) this.sendCancel();
  }

  // ---- upstream → client ---------------------------------------------------------------------

  /** What one read from the upstream makes the client get: one socket write per read. */
  private readonly output = new ByteGather();
  /** True while a read from the upstream is being relayed (client writes are gathered). */
  private relaying = false;

  private writeClient(bytes: Buffer): void {
    if (this.relaying) this.output.push(bytes);
    else this.client.write(bytes);
  }

  /** Write what was gathered: one write (a few pieces are corked into one writev). */
  private flushClient(): void {
    if (this.output.size === 0) return;
    const parts = this.output.take();
    if (parts.length === 1) this.client.write(parts[0]);
    else if (parts.length > 16) this.client.write(Buffer.concat(parts));
    else {
      this.client.cork();
      for (const p of parts) this.client.write(p);
      this.client.uncork();
    }
  }

  /**
   * Whether DataRows must be read, and how many may pass unread: read when the tracker masks the
   * rows streaming now or the audit still captures the statement's rows; otherwise they pass as
   * bytes, and a row limit counts them from their headers.
   */
  private rowInterest(): void {
    const read = this.tracker?.masksRows || this.audit?.wantsRows(this.upstreamCycles[0]) || this.upstreamCycles[0]?.readback !== undefined;
    this.scanner.interesting[BE.DataRow] = read ? 1 : 0;
    if (this.rowLimit) {
      // Rows that passed since are counted first: the new allowance MUST NOT give them again.
      this.countPassedRows();
      this.scanner.rowAllowance = this.rowLimit.allowance();
    }
  }

  private countPassedRows(): void {
    if (this.rowLimit && this.scanner.passedRows > 0) {
      this.rowLimit.passed(this.scanner.passedRows);
      this.scanner.passedRows = 0;
    }
  }

  private readonly sink = {
    pass: (bytes: Buffer) => {
      if (this.closed) return;
      // A run never spans a ReadyForQuery: all of it is the oldest cycle's.
      if (this.readbacks > 0 && this.upstreamCycles[0]?.readback) return;
      this.output.push(bytes);
    },
    message: (tag: number, frame: Buffer) => {
      if (this.closed) return;
      if (this.readbacks > 0 && this.upstreamCycles[0]?.readback) {
        this.relayMessage(tag, frame);
        this.rowInterest();
        return;
      }
      this.countPassedRows();
      if (tag === BE.DataRow) {
        // A row changes only the audit's wish for more rows (the tracker's plan stays).
        this.relayRow(frame);
        if (this.audit?.capturing) this.rowInterest();
        return;
      }
      this.relayMessage(tag, frame);
      this.rowInterest();
    },
    row: (chunk: Buffer, start: number, end: number) => {
      if (this.closed) return;
      if (this.tracker && !this.audit?.capturing && !(this.readbacks > 0 && this.upstreamCycles[0]?.readback)) {
        // The hot path of a masked result: counted, then masked from the chunk into the output.
        this.countPassedRows();
        if (this.rowLimit && !this.rowLimit.row()) return;
        this.tracker.rowAt(chunk, start, end, this.output);
        return;
      }
      this.sink.message(BE.DataRow, chunk.subarray(start, end));
    },
  };

  /** One DataRow that was read: counted, captured, masked into the output. */
  private relayRow(frame: Buffer): void {
    if (this.rowLimit && !this.rowLimit.row()) return;
    const cycle = this.upstreamCycles[0];
    if (this.audit && cycle && this.audit.wantsRows(cycle)) {
      // The audit sees what the client sees (masked rows included).
      const out = this.tracker ? this.tracker.message(BE.DataRow, frame) : frame;
      this.audit.response(BE.DataRow, out ?? frame, cycle);
      if (out) this.output.push(out);
    } else if (this.tracker) this.tracker.rowTo(frame, this.output);
    else this.output.push(frame);
  }

  private relayMessage(tag: number, frame: Buffer): void {
    if (tag === BE.ParameterStatus && this.leftPinnedSetting(frame)) return;
    if (this.copyIn !== null) this.copyInAnswer(tag);
    const cycle = this.upstreamCycles[0];
    let markerError = false;
    // A FATAL from the server (pg_terminate_backend, shutdown) is the last word of the
    // connection: it is passed on, and the gateway adds no error of its own when it closes.
    if (tag === BE.ErrorResponse && /^(FATAL|PANIC)$/.test(decodeFields(frame).V ?? decodeFields(frame).S ?? '')) this.upstreamSaidFatal = true;
    if (cycle?.rollback) {
      this.rollbackMessage(tag, frame, cycle);
      return;
    }
    if (this.readbacks > 0 && cycle?.readback) {
      this.readbackMessage(tag, frame, cycle);
      return;
    }
    let skipsQuery = false;
    if (tag === BE.CloseComplete) {
      const b = cycle?.boundary;
      if (!cycle) this.earlyCloses++;
      else if (b && !b.passed) {
        if (b.closesLeft > 0) b.closesLeft--;
        else {
          // The gateway's boundary: every message before the Query succeeded, and it runs.
          b.passed = true;
          return;
        }
      }
    } else if (tag === BE.ErrorResponse && cycle?.boundary && !cycle.boundary.passed) skipsQuery = true;
    if (tag === BE.ErrorResponse && cycle) {
      if (!cycle.failed && cycle.refusals.length > 0 && (decodeFields(frame).M ?? '').includes(MARKER)) {
        // The upstream failed on the marker: this is where the refused statement stood.
        frame = errorResponse(cycle.refusals.shift()!, 'ERROR');
        markerError = true;
      } else cycle.upstreamFailed = true;
      cycle.failed = true;
    } else if (tag === BE.ErrorResponse) {
      // No cycle in flight: the error is for the batch being built, flushed before its Sync.
      const early = { ...this.early };
      if (!early.failed && this.pendingRefusal && (decodeFields(frame).M ?? '').includes(MARKER)) {
        frame = errorResponse(this.pendingRefusal, 'ERROR');
        markerError = true;
        early.marker = true;
      } else early.upstreamFailed = true;
      early.failed = true;
      this.early = early;
    }
    let out = this.tracker ? this.tracker.message(tag, frame) : frame;
    let seen = tag;
    if (this.rowLimit && out) {
      const limited = this.rowLimit.message(tag, out);
      out = limited?.frame ?? null;
      if (limited) seen = limited.tag;
      if (!limited) return;
    }
    // The audit sees what the client sees (masked rows included).
    if (this.audit && cycle && !markerError) this.audit.response(seen, out ?? frame, cycle);
    const hidden = tag === BE.ReadyForQuery && cycle?.rollbackNext === true;
    if (out && !hidden) this.output.push(out);
    if (skipsQuery) {
      this.serverSkipsToSync();
      return;
    }
    if (tag === BE.ReadyForQuery) {
      // ReadyForQuery closes the oldest upstream cycle (the client's, unless a refusal's
      // ROLLBACK follows: then that one's ReadyForQuery is the client's).
      this.txStatus = String.fromCharCode(frame[5]) as TxStatus;
      if (!hidden) this.cycleCompleted();
      if (cycle) {
        this.upstreamCycles.shift();
        const error = cycle.upstreamFailed ? 'upstream' : cycle.failed ? 'marker' : 'none';
        this.gate.cycleDone(cycle.effects, cycle.upstreamFailed, { error, status: this.txStatus });
        if (!hidden) this.readBackIfWanted();
      }
      this.drainOutbox();
    }
  }

  /**
   * The server left a pinned lexing setting (client_encoding, standard_conforming_strings):
   * something the gateway could not see changed it (e.g. a function calling set_config with a
   * computed name), and from now on the server could read statements differently from the
   * gateway. Fail closed: FATAL to the client, the upstream session ended. True when it did.
   */
  private leftPinnedSetting(frame: Buffer): boolean {
    const { name, value } = decodeParameterStatus(frame);
    const drift = pinnedSettingDrift(name, value, this.lease.parameters.get('server_encoding'));
    if (drift === undefined) return false;
    this.log.error({ subject: this.identity.subject, parameter: name, value }, 'the upstream session left a pinned lexing setting; the session is ended');
    this.ending = true;
    this.upstreamBroken = true;
    // Called between two upstream messages: the FATAL lands on a message boundary.
    this.writeClient(errorResponse(new GatewayError('session.terminated', `pgwarden: ${drift}; the session is ended`, { hint: 'client_encoding must stay UTF8 (or SQL_ASCII over a UTF8 database) and standard_conforming_strings on for the whole session.' }), 'FATAL'));
    this.finish(`left a pinned setting: ${name}=${value}`);
    return true;
  }

  private fromUpstream(chunk: Buffer): void {
    if (this.closed) return;
    this.relaying = true;
    try {
      this.scanner.push(chunk, this.sink);
    } catch (err) {
      // A response the gateway cannot frame or mask: nothing more of it may reach the client.
      this.relaying = false;
      this.flushClient();
      this.upstreamBroken = true;
      this.log.error({ err: (err as Error).message }, 'a response could not be relayed safely; the session is ended');
      this.terminate(new GatewayError('upstream.lost', 'pgwarden: a response from the database could not be relayed safely; the session is ended'));
      return;
    }
    if (!this.closed) this.drainOutbox();
    this.relaying = false;
    this.flushClient();
    if (this.client.writableNeedDrain) this.upstream.pause();
  }

  // ---- replies made by the gateway -----------------------------------------------------------

  private drainOutbox(): void {
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      if (this.completed < head.after || !this.scanner.atBoundary) return;
      this.outbox.shift();
      for (const b of head.bytes) this.writeClient(b);
      if (head.readyForQuery) {
        this.writeClient(encodeReadyForQuery(this.txStatus));
        this.cycleCompleted();
      }
      if (head.fatal) {
        this.finish('ended by the gateway');
        return;
      }
    }
  }

  /**
   * End the session with a FATAL error, in protocol order when the upstream stream allows it.
   * Used for an expired token at the next statement.
   */
  private endWith(err: GatewayError): void {
    this.flushUpstream();
    this.ending = true;
    this.log.info({ subject: this.identity.subject, reason: err.message }, 'session ended');
    this.outbox.push({ after: this.cycles, bytes: [errorResponse(err, 'FATAL')], readyForQuery: false, fatal: true });
    this.drainOutbox();
  }

  /**
   * End the session now (revocation, shutdown): a FATAL error when the client's stream stands
   * between two messages, then close both sides. Results in flight are not waited for.
   */
  terminate(err: GatewayError): void {
    if (this.closed) return;
    this.ending = true;
    if (this.scanner.atBoundary) this.writeClient(errorResponse(err, 'FATAL'));
    this.log.info({ subject: this.identity.subject, reason: err.message }, 'session terminated');
    this.finish(err.message);
  }

  private protocolFailure(err: unknown): void {
    const message =
      err instanceof MessageTooLargeError
        ? `pgwarden: ${err.message}`
        : err instanceof ProtocolError
          ? `pgwarden: invalid message from the client: ${err.message}`
          : 'pgwarden: invalid message from the client';
    const code = err instanceof MessageTooLargeError ? 'protocol.message_too_large' : 'protocol.violation';
    this.log.warn({ subject: this.identity.subject, err: (err as Error).message }, 'protocol violation; closing the connection');
    this.ending = true;
    if (this.scanner.atBoundary) this.client.write(errorResponse(new GatewayError(code, message), 'FATAL'));
    this.finish('protocol violation');
  }

  private upstreamGone(reason: string): void {
    if (this.closed) return;
    this.upstreamBroken = true;
    if (!this.ending && !this.upstreamSaidFatal && this.scanner.atBoundary && !this.client.destroyed) {
      this.client.write(errorResponse(new GatewayError('upstream.lost', 'pgwarden: the connection to the database was lost'), 'FATAL'));
    }
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // What was gathered of the current read goes out before the end.
    this.relaying = false;
    this.flushClient();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.ending = true;
    this.dropCancel();
    // Giving the server connection back ends its session today (the lease closes it, and the
    // server rolls back whatever transaction it had open). A statement held for review will
    // never run: say so.
    const mode = this.releaseMode();
    this.later = null;
    this.gate.abandon?.();
    // What this session held of the client's bytes is released.
    this.inbox = [];
    this.inboxBytes = 0;
    this.framer.drainRemainder();
    this.budget?.change(this.budgetKey, -this.held);
    this.held = 0;
    this.lease.release(mode);
    const client = this.client;
    if (!client.destroyed && !client.writableEnded) client.end();
    // Make sure the client's socket goes away even if it never acknowledges the close (the
    // lease does the same for the server's). The timer holds the socket only, and only until it
    // closes, not the ended session for 2 s.
    if (!client.destroyed) {
      const timer = setTimeout(() => client.destroy(), 2000).unref();
      client.once('close', () => clearTimeout(timer));
    }
    this.onClose?.(reason);
  }
}
