/**
 * Transaction pooling behind the `UpstreamLease` interface: the session reads and writes one
 * stream as if it held one server connection, and the lease lends it a pooled connection for
 * each transaction (or each statement outside a transaction), giving it back to the pool when
 * the server reports ReadyForQuery idle with nothing more in flight.
 *
 * What has to follow the session from one server connection to the next:
 * - **Prepared statements.** A named statement the client prepares is prepared on the server
 *   under the gateway's own name (`pgw_` and a hash of its text and parameter types), and the
 *   client's name is mapped to it. When the client binds or describes it on a server connection
 *   that does not have it yet, the lease prepares it there first (the answer is swallowed). A
 *   server connection keeps what it prepared for the next sessions (at most
 *   MAX_PREPARED_PER_CONNECTION, least recently used closed first). The unnamed statement is
 *   prepared again the same way when the client binds it on another connection, or on its own
 *   after another session replaced it there or sent a simple Query (which drops it).
 * - **What a prepared statement returns.** PostgreSQL fixes a statement's parameter types and
 *   result columns when it is prepared, and fails a later Bind whose result would differ (0A000
 *   `cached plan must not change result type`). The lease describes each statement it prepares
 *   on a connection (once per statement per connection) and keeps, for each client statement,
 *   what the client was told. Prepared again elsewhere, the statement takes its old parameter
 *   types, and the client's messages wait for its Describe there; a use whose result on the
 *   connection differs is failed at the server (so the transaction fails as on PostgreSQL) with
 *   PostgreSQL's error (#refuseChanged).
 * - **Settings.** A setting changed by a lone SET / RESET (see engine/pool-effects.ts) whose
 *   cycle succeeded outside a transaction block is kept and replayed (`RESET ALL` then each SET)
 *   on a connection whose settings are not the session's.
 * - **Identity.** A connection last used by another identity is reset before it is lent (all of
 *   DISCARD ALL: `DEALLOCATE ALL`, since prepared statements, the gateway's or those code in the
 *   database made, have texts anyone there can read in pg_prepared_statements, then
 *   `RESET_STATE`). Prepared statements stay for the next session of the same identity.
 *
 * What cannot move (a temporary table, LISTEN, a session advisory lock, a WITH HOLD cursor, a
 * SQL-level PREPARE, SET ROLE, a setting changed inside a transaction block) **pins** the session
 * to its connection until it ends; the connection is then reset with DISCARD ALL by the pool.
 *
 * The session tells the lease what a statement leaves behind with `note(n, effect)`, where `n`
 * counts the Query and Parse messages the session has written on the stream (1 for the first).
 *
 * Responses the lease makes itself (ParseComplete for a statement the connection has already,
 * CloseComplete for a client's Close of a statement, an error when no connection becomes free)
 * are put in the stream in the order PostgreSQL would have sent them: each message the lease
 * forwards is an entry in a queue that the server's answers complete in order.
 */
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import {
  BE,
  FE,
  MessageFramer,
  Reader,
  StreamScanner,
  SYNC,
  decodeFields,
  decodeParameterStatus,
  encodeClose,
  encodeDescribe,
  encodeErrorResponse,
  encodeFieldMap,
  encodeQuery,
  encodeReadyForQuery,
  type ScanSink,
  type TxStatus,
} from '../protocol/index.ts';
import { cancelUpstream, type UpstreamConnection, type UpstreamTarget } from './connect.ts';
import type { LeaseEffect, LeaseOptions, ReleaseMode, UpstreamLease } from './lease.ts';
import { poolKey, type PoolLease, type PoolTaker, type UpstreamPool } from './pool.ts';
import { RESULT_TYPE_CHANGED, resultShape, withParamTypes } from './result-shape.ts';

export interface TransactionLeaseOptions extends LeaseOptions {
  /** Who holds the lease: a connection last used by another identity is reset before it is lent. */
  identity: string;
  /** The client's application_name, set again after a reset. */
  applicationName?: string;
}

const MAX_PREPARED_PER_CONNECTION = 500;

/** All of DISCARD ALL but DEALLOCATE ALL and DISCARD PLANS. */
const RESET_STATE = 'CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES';

/**
 * What a statement prepared on a server connection takes and returns, as the server described it
 * when it was prepared there (filled in when that answer comes). PostgreSQL fixes both then: the
 * parameter types stay, and a later use whose result would differ fails (see result-shape.ts).
 */
interface Described {
  /** The ParameterDescription message. */
  params?: Buffer;
  /** `resultShape` of the RowDescription, or null for NoData (no rows). */
  result?: string | null;
  /**
   * The server refused this plan as stale (0A000) while the pool's generation was this one: its
   * tables changed outside the pool (see #stale).
   */
  staleAt?: number;
}

/** What the lease knows of a pooled server connection, across the sessions it serves. */
interface ServerState {
  /** The gateway's statement names prepared there, least recently used first, and their description. */
  prepared: Map<string, Described>;
  /**
   * Statements still there that the lease no longer uses (a stale plan, or a Close the server
   * skipped after an error): closed when the connection is next lent, or before one of them is
   * prepared again. Not closed at once: the server may be skipping to a Sync, or past the last
   * one, where it would hold the answer until the next session's messages.
   */
  unclosed: Set<string>;
  /** The last Parse of the unnamed statement there (whose, and which), or null. */
  unnamed: object | null;
  /** The identity it last served (null: none yet). */
  identity: string | null;
  /**
   * The session whose replayed settings it holds (null: its settings are the startup ones;
   * `UNKNOWN_STATE`: code the gateway could not follow may have changed them, or more).
   */
  settings: object | null;
}

/** Code may have changed the connection's settings: it is reset with `RESET_STATE` before it is lent again. */
const UNKNOWN_STATE = {};

const servers = new WeakMap<UpstreamConnection, ServerState>();


/**
 * A pool's plan generation, part of every gateway statement name made from it. It moves on after
 * a cycle that may have changed what statements return (DDL, DO, CALL, a temporary table:
 * `LeaseEffect.schema`), again when the transaction block such a cycle ran in ends, and
 * after a statement failed at Bind or Describe with a plan its connection can no longer use: a
 * statement the client prepares after that is prepared afresh on every connection, as on a
 * connection of its own, instead of meeting the old plan another connection still holds (which
 * would answer `cached plan must not change result type`).
 */
const generations = new WeakMap<UpstreamPool, { n: number }>();

function generationOf(pool: UpstreamPool): { n: number } {
  let g = generations.get(pool);
  if (!g) generations.set(pool, (g = { n: 0 }));
  return g;
}

function stateOf(conn: UpstreamConnection): ServerState {
  let s = servers.get(conn);
  if (!s) servers.set(conn, (s = { prepared: new Map(), unclosed: new Set(), unnamed: null, identity: null, settings: null }));
  return s;
}

/** The kinds of forwarded message whose answer the lease waits for, and what ends that answer. */
const enum K {
  Parse,
  Bind,
  Describe,
  Execute,
  Close,
  Cycle,
}

interface Entry {
  kind: K;
  /** Answered by the lease: these bytes, when the entry reaches the head of the queue. */
  synthetic?: Buffer;
  /** A message the lease added: its answer does not reach the client (its error does). */
  swallow?: boolean;
  /** A Parse: the gateway name it prepares, and the client statement it made (undone on error). */
  serverName?: string;
  client?: { map: Map<string, ClientStatement>; name: string; stmt: ClientStatement };
  /** A cycle's end (Sync, Query): its effects, and whether it failed. */
  effects?: LeaseEffect[];
  failed?: boolean;
  /**
   * A cycle ended by a Query or FunctionCall, not a Sync: after an error of an extended-protocol
   * message before it, the server skips it to the Sync, and it gets no ReadyForQuery.
   */
  query?: boolean;
  /** A cycle the lease sent to reset the connection: an error in it breaks the lease. */
  reset?: boolean;
  /** A Bind or Describe of a client's statement: an error there may mean its plan is stale. */
  uses?: ClientStatement;
  /** A Describe of a statement: its answer fills this in. */
  described?: Described;
  /**
   * A Describe of a client's statement prepared again on this connection: what the client was
   * told when it prepared it, to compare with `described` while the client's messages wait.
   */
  check?: Described;
  /** The server's error for this message is answered with these bytes instead. */
  replace?: Buffer;
  /** A Close the lease sent of this gateway statement (if the server skips it, the statement stays). */
  closes?: string;
}

interface ClientStatement {
  serverName: string;
  /** The Parse under the gateway name, to send again on another connection. */
  parse: Buffer;
  /**
   * What the statement was when the client prepared it (on the connection that answered its
   * Parse); `result` undefined when not known, and then taken from its next preparation.
   */
  origin: Described;
  /** Its Parse was answered from a statement the connection already had (prepared earlier, perhaps before a change). */
  shared?: boolean;
  /** The pool's plan generation at its Parse. */
  generation: number;
  effect?: LeaseEffect;
}

function ends(kind: K, tag: number): boolean {
  switch (kind) {
    case K.Parse:
      return tag === BE.ParseComplete;
    case K.Bind:
      return tag === BE.BindComplete;
    case K.Describe:
      return tag === BE.RowDescription || tag === BE.NoData;
    case K.Execute:
      return tag === BE.CommandComplete || tag === BE.EmptyQueryResponse || tag === BE.PortalSuspended;
    case K.Close:
      return tag === BE.CloseComplete;
    case K.Cycle:
      return tag === BE.ReadyForQuery;
  }
}

const PARSE_COMPLETE = Buffer.from([BE.ParseComplete, 0, 0, 0, 4]);
const CLOSE_COMPLETE = Buffer.from([BE.CloseComplete, 0, 0, 0, 4]);
const NO_DATA = Buffer.from([BE.NoData, 0, 0, 0, 4]);
const FLUSH = Buffer.from([FE.Flush, 0, 0, 0, 4]);
/** A statement name no server connection has: a message naming it fails there. */
const NO_STATEMENT = 'pgwarden.result-changed';
const CLIENT_FRAME_MAX = 1 << 30;
const EMPTY_NAMES: readonly string[] = ['', ''];

/** The C string at `pos` of a frame: the empty name (the common case) without a Reader. */
function nameAt(frame: Buffer, pos: number): string {
  if (frame[pos] === 0) return '';
  return new Reader(frame, pos).cstring();
}

function cstrings(frame: Buffer, n: number): string[] {
  const r = new Reader(frame, 5);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.cstring());
  return out;
}

/** The frame with its first C string (after `skip` bytes of body) replaced by `name`. */
function renamed(frame: Buffer, skip: number, name: string, names = 1): Buffer {
  // Bind: portal, then statement (names = 2 replaces the second). Describe/Close: a type byte first.
  let pos = 5 + skip;
  for (let i = 1; i < names; i++) pos = frame.indexOf(0, pos) + 1;
  const end = frame.indexOf(0, pos);
  const body = Buffer.concat([frame.subarray(5, pos), Buffer.from(name), frame.subarray(end)]);
  const out = Buffer.allocUnsafe(body.length + 5);
  out[0] = frame[0];
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

/**
 * Bytes to be written together. A frame that follows the last one in memory (the next message of
 * the same read or write) extends it, so a batch forwarded unchanged leaves as one buffer, made
 * once when it is taken.
 */
class Pending {
  #parts: Buffer[] = [];
  /** The first frame of the run being extended, and where the run ends in its memory. */
  #run: Buffer | null = null;
  #end = 0;

  get empty(): boolean {
    return this.#run === null;
  }

  add(b: Buffer): void {
    const run = this.#run;
    if (run !== null && run.buffer === b.buffer && this.#end === b.byteOffset) {
      this.#end += b.length;
      return;
    }
    if (run !== null) this.#parts.push(this.#close(run));
    this.#run = b;
    this.#end = b.byteOffset + b.length;
  }

  /** Everything added, in order (at least one buffer; empty() first), and start again. */
  take(): Buffer[] {
    const parts = this.#parts;
    parts.push(this.#close(this.#run!));
    this.#parts = [];
    this.#run = null;
    return parts;
  }

  #close(run: Buffer): Buffer {
    const length = this.#end - run.byteOffset;
    return length === run.length ? run : Buffer.from(run.buffer, run.byteOffset, length);
  }
}

/** Below this many bytes, pieces are joined into one write (cheaper than a corked writev). */
const JOIN_BELOW = 16 * 1024;

function gatewayName(frame: Buffer, textStart: number, generation: number): string {
  // The statement text and the parameter types (the same text typed differently is another
  // plan), and the pool's plan generation.
  return `pgw_${createHash('sha256').update(`${generation}\u0000`).update(frame.subarray(textStart)).digest('hex').slice(0, 24)}`;
}

function totalLength(out: Buffer[]): number {
  let n = 0;
  for (const b of out) n += b.length;
  return n;
}

class TransactionLease extends Duplex implements UpstreamLease {
  readonly stream: Duplex = this;
  readonly parameters: ReadonlyMap<string, string>;
  readonly backendKey: { readonly pid: number; readonly secret: Buffer };
  readonly txStatus: TxStatus = 'I';
  readonly leftover: Buffer | null = null;

  #mode: ReleaseMode | null = null;
  #server: { lease: PoolLease; conn: UpstreamConnection; state: ServerState } | null = null;
  #acquiring = false;
  /** Client messages waiting for a server connection, in order. */
  #backlog: { tag: number; frame: Buffer; effect?: LeaseEffect }[] = [];
  #writeDone: ((err?: Error | null) => void) | null = null;
  readonly #framer = new MessageFramer(CLIENT_FRAME_MAX);
  readonly #scanner = new StreamScanner(CLIENT_FRAME_MAX);
  #queue: Entry[] = [];
  /** Bytes for the server, written together at the end of a write from the session. */
  readonly #toServer = new Pending();
  /** Bytes for the session, pushed together at the end of a read from the server. */
  readonly #toClient = new Pending();
  /** Messages forwarded since the last Sync / Query (a detach waits for their cycle). */
  #open = 0;
  /** The status of the last ReadyForQuery ('I' idle, 'T' in a block, 'E' failed block). */
  #status = 0x49;
  /** Drop client messages until the next Sync (after an error the lease made itself). */
  #skipToSync = false;
  /** Effects of the cycle being built (applied at its ReadyForQuery). */
  #cycleEffects: LeaseEffect[] = [];
  /** Query and Parse messages seen from the session, and the effects noted for them. */
  #sqlFrames = 0;
  readonly #notes = new Map<number, LeaseEffect>();
  /** The pool key of the session's startup settings (computed once). */
  readonly #key: string;
  readonly #statements = new Map<string, ClientStatement>();
  /**
   * The unnamed statement's Parse, and the token that marks it prepared on a connection; what it
   * was when prepared, if the client described it there (null: prepared elsewhere before that).
   */
  #unnamed: { parse: Buffer; token: object; origin?: Described | null; effect?: LeaseEffect } | null = null;
  /**
   * The Describe of a client's statement just prepared again on this connection, whose answer the
   * client's next messages wait for (in the backlog): if what the statement returns here differs
   * from what the client was told, its Bind fails as on PostgreSQL.
   */
  #checking: Entry | null = null;
  /** Set by #ensurePrepared: the statement's result on this connection is not what the client was told. */
  #changed: Described | null = null;
  readonly #portals = new Map<string, LeaseEffect | undefined>();
  /** Settings replayed on each connection, by name (RESET ALL clears them). */
  readonly #settings = new Map<string, string>();
  #pinned: string | null = null;
  /** A statement that may change what others return ran in the transaction block still open. */
  #schemaInBlock = false;
  /** The client's statement names are the server's (see #useOwnNames). */
  #ownNames = false;
  /** Why the connection must not go back to the pool, though the session is not pinned (it is ending). */
  #kept: string | null = null;
  onPin: ((reason: string) => void) | null = null;
  #cancelling = 0;
  #chunk: Buffer | null = null;
  /** The server socket the lease listens to while it holds a connection. */
  #hooked: UpstreamConnection['socket'] | null = null;
  /** Inside `_write`: what the session wrote is being read (written out at its end, together). */
  #writing = false;
  readonly #onServerData = (c: Buffer): void => this.#fromServer(c);
  readonly #onServerGone = (): void => this.#lost();
  /** The pool's plan generation (see `generations`). */
  readonly #generation: { n: number };
  readonly #taker: PoolTaker = {
    grant: (lease) => this.#granted(lease),
    fail: (err) => this.#notGranted(err),
  };

  constructor(
    private readonly pool: UpstreamPool,
    private readonly startup: Record<string, string>,
    private readonly target: UpstreamTarget,
    private readonly o: TransactionLeaseOptions,
    first: UpstreamConnection,
  ) {
    super({ allowHalfOpen: false });
    this.#key = poolKey(startup);
    this.#generation = generationOf(pool);
    this.parameters = new Map(first.parameters);
    this.backendKey = { pid: first.pid, secret: first.secret };
    // Every tag but rows and copy data: the queue follows the rest.
    this.#scanner.interesting.fill(1);
    this.#scanner.interesting[BE.DataRow] = 0;
    this.#scanner.interesting[BE.CopyData] = 0;
  }

  get released(): ReleaseMode | null {
    return this.#mode;
  }

  note(n: number, effect: LeaseEffect): void {
    this.#notes.set(n, effect);
  }

  cancel(): Promise<void> {
    const s = this.#server;
    if (this.#mode !== null || !s) return Promise.resolve();
    // The connection is not lent to another session until the cancel has been delivered: the
    // server ignores a cancel that arrives between statements, never applies it to a later one.
    this.#cancelling++;
    return (this.o.sendCancel ?? cancelUpstream)(this.target, s.conn.pid, s.conn.secret).finally(() => {
      this.#cancelling--;
      this.#maybeDetach();
    });
  }

  release(mode: ReleaseMode): void {
    if (this.#mode !== null) return;
    this.#mode = mode;
    this.#backlog = [];
    this.#checking = null;
    const s = this.#server;
    this.#server = null;
    if (s) {
      this.#unhook();
      if (mode === 'clean' && this.#pinned === null && this.#kept === null) s.lease.release('keep');
      else {
        // DISCARD ALL by the pool leaves nothing of this session's, prepared statements included.
        if (mode === 'clean') servers.delete(s.conn);
        s.lease.release(mode);
      }
    }
    this.o.onClosed?.();
    this.#writeDone?.();
    this.#writeDone = null;
    this.push(null);
  }

  // ---- session → server ----------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.#mode !== null) return done();
    this.#writing = true;
    try {
      this.#framer.push(chunk, this.#fromSession);
    } catch (err) {
      return done(err as Error);
    } finally {
      this.#writing = false;
    }
    this.#flushServer();
    this.#flushClient();
    if (this.#acquiring || this.#checking !== null) this.#writeDone = done;
    else done();
  }

  override _read(): void {
    this.#server?.conn.socket.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#mode === null) this.release(err ? 'broken' : 'dirty');
    cb(err);
  }

  readonly #fromSession = (tag: number, frame: Buffer): void => {
    if (tag === FE.Terminate) return;
    if (this.#skipToSync && this.#server === null && this.#backlog.length === 0) {
      // The rest of a batch the lease failed itself: no connection is needed to drop it.
      if (tag === FE.Sync) {
        this.#skipToSync = false;
        this.#toClient.add(encodeReadyForQuery('I'));
      }
      return;
    }
    let effect: LeaseEffect | undefined;
    if (tag === FE.Query || tag === FE.Parse) {
      const n = ++this.#sqlFrames;
      effect = this.#notes.get(n);
      if (effect) this.#notes.delete(n);
    }
    // An idle connection of the session's settings is lent at once (`take` grants before it
    // returns); otherwise the message waits in the backlog. A frame is a view of what the session
    // wrote, whose write is not done until the backlog is sent: it is kept as it is.
    if (this.#server === null && this.#backlog.length === 0) this.#acquire();
    if (this.#server === null || this.#backlog.length > 0 || this.#checking !== null) {
      this.#backlog.push({ tag, frame, effect });
      return this.#acquire();
    }
    this.#process(tag, frame, effect);
  };

  #acquire(): void {
    if (this.#acquiring || this.#server) return;
    this.#acquiring = true;
    this.pool.take(this.startup, this.#taker, this.#key);
  }

  #granted(lease: PoolLease): void {
    this.#acquiring = false;
    if (this.#mode !== null) return lease.release('keep');
    this.#attach(lease);
    this.#drainBacklog();
  }

  #notGranted(err: unknown): void {
    this.#acquiring = false;
    if (this.#mode !== null) return;
    this.#failBacklog(err instanceof GatewayError ? err : new GatewayError('upstream.unavailable', 'pgwarden: no connection to the database could be opened'));
  }

  #drainBacklog(): void {
    const backlog = this.#backlog;
    this.#backlog = [];
    for (let i = 0; i < backlog.length; i++) {
      const b = backlog[i];
      if (this.#server === null) {
        // The connection went back to the pool (its cycle ended) before the rest was sent.
        this.#backlog = backlog.slice(i);
        this.#acquire();
        break;
      }
      if (this.#checking !== null) {
        // A statement prepared again is being described: the rest waits (after the message that started it).
        this.#backlog = this.#backlog.concat(backlog.slice(i));
        break;
      }
      this.#process(b.tag, b.frame, b.effect);
    }
    // Granted within the session's write: its end writes everything out and finishes the write.
    if (this.#writing) return;
    this.#flushServer();
    this.#flushClient();
    if (this.#backlog.length === 0 && !this.#acquiring && this.#checking === null) {
      const done = this.#writeDone;
      this.#writeDone = null;
      done?.();
    }
  }

  /** No connection became free: each waiting cycle gets the error and ReadyForQuery. */
  #failBacklog(err: GatewayError): void {
    const backlog = this.#backlog;
    this.#backlog = [];
    // Each cycle gets the error once, then its ReadyForQuery; the rest of an unfinished batch is
    // dropped up to its Sync, as after a server error.
    let skipping = this.#skipToSync;
    for (const b of backlog) {
      const ends = b.tag === FE.Sync || b.tag === FE.Query;
      if (!skipping) this.#toClient.add(encodeErrorResponse({ severity: 'ERROR', code: err.sqlstate, message: err.message, hint: err.hint }));
      skipping = !ends;
      if (ends) this.#toClient.add(encodeReadyForQuery('I'));
    }
    this.#skipToSync = skipping;
    if (this.#writing) return;
    this.#flushClient();
    const done = this.#writeDone;
    this.#writeDone = null;
    done?.();
  }

  #attach(lease: PoolLease): void {
    const conn = lease.connection;
    const state = stateOf(conn);
    this.#server = { lease, conn, state };
    const sock = conn.socket;
    sock.on('data', this.#onServerData);
    sock.on('close', this.#onServerGone);
    sock.on('error', this.#onServerGone);
    this.#hooked = sock;
    sock.resume();
    // Bring the connection to this session's settings (and clear another identity's state).
    const steps: string[] = [];
    const mine = this.#settings.size > 0 ? this : null;
    if (state.identity !== null && state.identity !== this.o.identity) {
      // Another identity's prepared statements go too: their texts (with whatever literals they
      // carry) are readable in pg_prepared_statements, and no identity reads another's statements.
      // Always, not only when the lease prepared some: code in the database (a DO block, a
      // function) can PREPARE behind the gateway. This identity's own statements are prepared
      // again on the connection as they are used.
      steps.push('DEALLOCATE ALL');
      state.prepared.clear();
      state.unclosed.clear();
      state.unnamed = null;
    }
    if ((state.identity !== null && state.identity !== this.o.identity) || state.settings === UNKNOWN_STATE) {
      steps.push(RESET_STATE);
      state.settings = null;
    } else if (state.settings !== null && state.settings !== mine) steps.push('RESET ALL');
    state.identity = this.o.identity;
    for (const name of state.unclosed) this.#close(name);
    state.unclosed.clear();
    if (mine && state.settings !== mine) steps.push(...this.#settings.values());
    if (steps.length > 0) {
      const app = this.o.applicationName;
      if (app !== undefined && steps.some((st) => st === RESET_STATE || st === 'RESET ALL')) steps.push(`SET application_name = '${app.replace(/'/g, "''")}'`);
      // A statement's text may end in a line comment (`SET search_path = a -- note`): the newline
      // ends it before the separator, which it would otherwise swallow, and the replay fail.
      this.#toServer.add(encodeQuery(steps.join('\n;\n')));
      this.#queue.push({ kind: K.Cycle, swallow: true, reset: true });
      // The unnamed statement goes with any simple Query: the next session's is prepared again.
      state.unnamed = null;
      state.settings = mine;
    }
  }

  #unhook(): void {
    const sock = this.#hooked;
    if (!sock) return;
    this.#hooked = null;
    sock.off('data', this.#onServerData);
    sock.off('close', this.#onServerGone);
    sock.off('error', this.#onServerGone);
  }

  /** Give the connection back to the pool when the session has nothing in flight on it. */
  #maybeDetach(): void {
    const s = this.#server;
    if (!s || this.#mode !== null || this.#pinned !== null || this.#kept !== null || this.#cancelling > 0) return;
    if (this.#queue.length > 0 || this.#open > 0 || this.#status !== 0x49 || !this.#toServer.empty || this.#checking !== null) return;
    this.#unhook();
    s.conn.socket.pause();
    this.#server = null;
    s.lease.release('keep');
  }

  #pin(reason: string): void {
    if (this.#pinned !== null) return;
    this.#pinned = reason;
    this.onPin?.(reason);
  }

  #process(tag: number, frame: Buffer, effect: LeaseEffect | undefined): void {
    let skipped = false;
    if (this.#skipToSync) {
      if (tag !== FE.Sync) return;
      this.#skipToSync = false;
      skipped = true;
    }
    const s = this.#server!;
    switch (tag) {
      case FE.Query: {
        if (effect) this.#effect(effect, true);
        // A simple Query drops the connection's unnamed statement, whoever prepared it.
        this.#unnamed = null;
        s.state.unnamed = null;
        this.#forward(frame, { kind: K.Cycle, effects: this.#takeEffects(), query: true });
        this.#open = 0;
        return;
      }
      case FE.Sync:
        this.#forward(frame, { kind: K.Cycle, effects: this.#takeEffects(), ...(skipped ? { failed: true } : {}) });
        this.#open = 0;
        return;
      case FE.Parse: {
        const name = nameAt(frame, 5);
        if (effect?.pin) this.#pin(effect.pin);
        if (name.startsWith('pgwarden.') || (this.#ownNames && name !== '')) {
          // The gateway's own (a refusal's marker, which fails at the server), or the session's
          // own names on its pinned connection (see #useOwnNames): sent as it is.
          this.#forward(frame, { kind: K.Parse }, true);
          return;
        }
        if (name === '') {
          const token = {};
          this.#unnamed = { parse: Buffer.from(frame), token, ...(effect ? { effect } : {}) };
          s.state.unnamed = token;
          this.#forward(frame, { kind: K.Parse }, true);
          return;
        }
        if (this.#statements.has(name)) {
          // PostgreSQL's own answer; the server would then skip the rest of the batch.
          this.#queue.push({ kind: K.Parse, synthetic: encodeErrorResponse({ severity: 'ERROR', code: '42P05', message: `prepared statement "${name}" already exists` }) });
          this.#skipToSync = true;
          this.#drainSynthetic();
          return;
        }
        const textStart = 5 + Buffer.byteLength(name) + 1;
        const serverName = gatewayName(frame, textStart, this.#generation.n);
        const parse = renamed(frame, 0, serverName);
        const there = s.state.prepared.get(serverName);
        const stmt: ClientStatement = { serverName, parse, origin: there ?? {}, generation: this.#generation.n, ...(there ? { shared: true } : {}), ...(effect ? { effect } : {}) };
        this.#statements.set(name, stmt);
        const client = { map: this.#statements, name, stmt };
        if (there !== undefined) {
          this.#touch(s.state, serverName, there);
          this.#queue.push({ kind: K.Parse, synthetic: PARSE_COMPLETE, client });
          this.#drainSynthetic();
          return;
        }
        this.#makeRoom(s.state, serverName);
        s.state.prepared.set(serverName, stmt.origin);
        this.#forward(parse, { kind: K.Parse, serverName, client }, true);
        // What the client is told the statement takes and returns, for another connection to
        // compare with (once per statement per connection; the answer does not reach the client).
        this.#forward(encodeDescribe('S', serverName), { kind: K.Describe, swallow: true, described: stmt.origin });
        return;
      }
      case FE.Bind: {
        const [portal, name] = frame[5] === 0 && frame[6] === 0 ? EMPTY_NAMES : cstrings(frame, 2);
        if (this.#ownNames && name !== '') {
          this.#portals.set(portal, undefined);
          this.#forward(frame, { kind: K.Bind }, true);
          return;
        }
        const stmt = this.#ensurePrepared(name);
        if (this.#checking !== null) return this.#hold(tag, frame, effect);
        if (this.#changed !== null) return this.#refuseChangedNow(tag, frame);
        this.#portals.set(portal, name === '' ? this.#unnamed?.effect : stmt?.effect);
        this.#forward(stmt ? renamed(frame, 0, stmt.serverName, 2) : frame, stmt ? { kind: K.Bind, uses: stmt } : { kind: K.Bind }, true);
        return;
      }
      case FE.Describe: {
        if (frame[5] === 0x53 && !this.#ownNames) {
          const name = nameAt(frame, 6);
          const stmt = this.#ensurePrepared(name);
          if (this.#checking !== null) return this.#hold(tag, frame, effect);
          if (this.#changed !== null) return this.#refuseChangedNow(tag, frame);
          if (stmt) this.#forward(renamed(frame, 1, stmt.serverName), { kind: K.Describe, uses: stmt }, true);
          else {
            // The unnamed statement described on the connection its Parse went to: what the
            // client is told, should it be bound on another connection.
            const u = name === '' ? this.#unnamed : null;
            const described = u && u.origin === undefined ? (u.origin = {}) : undefined;
            this.#forward(frame, described ? { kind: K.Describe, described } : { kind: K.Describe }, true);
          }
        } else this.#forward(frame, { kind: K.Describe }, true);
        return;
      }
      case FE.Close: {
        if (frame[5] === 0x53 && !this.#ownNames) {
          // The server's statement stays for the next sessions; the client's name goes.
          const name = nameAt(frame, 6);
          if (name === '') this.#unnamed = null;
          else this.#statements.delete(name);
          this.#queue.push({ kind: K.Close, synthetic: CLOSE_COMPLETE });
          this.#drainSynthetic();
          return;
        }
        this.#forward(frame, { kind: K.Close }, true);
        return;
      }
      case FE.Execute: {
        const portal = nameAt(frame, 5);
        const fx = this.#portals.get(portal);
        if (fx) this.#effect(fx);
        this.#forward(frame, { kind: K.Execute }, true);
        return;
      }
      case FE.FunctionCall:
        this.#forward(frame, { kind: K.Cycle, effects: this.#takeEffects(), query: true });
        this.#open = 0;
        return;
      default:
        // Flush, CopyData, CopyDone, CopyFail: no answer of their own (copy data belongs to the
        // Query or Execute in the queue). Any other message is one the server ends the session
        // for (FATAL 08P01): the connection stays with this session until it does.
        if (tag !== FE.Flush && tag !== FE.CopyData && tag !== FE.CopyDone && tag !== FE.CopyFail) this.#kept = 'a message the server does not know';
        this.#toServer.add(frame);
    }
  }

  /** `beforeQuery`: the effect is a simple Query's, sent next (outside any extended batch). */
  #effect(e: LeaseEffect, beforeQuery = false): void {
    if (e.pin) this.#pin(e.pin);
    if (e.sqlNames) this.#useOwnNames(beforeQuery);
    if (e.dropsPrepared && this.#server) {
      this.#server.state.prepared.clear();
      this.#server.state.unclosed.clear();
      this.#server.state.unnamed = null;
    }
    this.#cycleEffects.push(e);
  }

  /**
   * SQL PREPARE, EXECUTE and DEALLOCATE share their names with the protocol's statements: from
   * the first of them on (the session is pinned by then), the client's statements are prepared
   * on its connection under the client's own names, and its messages go as they are. Before a
   * simple Query the Parses are followed by a Sync of their own, so that if one fails the server
   * does not skip the Query.
   */
  #useOwnNames(beforeQuery: boolean): void {
    if (this.#ownNames) return;
    this.#ownNames = true;
    if (this.#statements.size === 0) return;
    for (const [name, stmt] of this.#statements) this.#forward(renamed(stmt.parse, 0, name), { kind: K.Parse, swallow: true });
    this.#statements.clear();
    if (beforeQuery) this.#forward(SYNC, { kind: K.Cycle, swallow: true, reset: false });
  }

  #takeEffects(): LeaseEffect[] | undefined {
    if (this.#cycleEffects.length === 0) return undefined;
    const e = this.#cycleEffects;
    this.#cycleEffects = [];
    return e;
  }

  /** The client statement `name` (prepared on this connection now), or null for an unknown or unnamed one. */
  #ensurePrepared(name: string): ClientStatement | null {
    const s = this.#server!;
    if (name === '') {
      const u = this.#unnamed;
      if (u && s.state.unnamed !== u.token) {
        s.state.unnamed = u.token;
        if (u.origin === undefined) u.origin = null;
        this.#prepareAgain(u.parse, '', u.origin, null);
      }
      return null;
    }
    const stmt = this.#statements.get(name);
    if (!stmt) return null;
    const there = s.state.prepared.get(stmt.serverName);
    if (there !== undefined) {
      this.#touch(s.state, stmt.serverName, there);
      // Most often the very object the client's description is. Another: the connection's
      // statement was prepared by another session, before or after a change made elsewhere.
      if (there !== stmt.origin) {
        if (stmt.origin.result === undefined) stmt.origin = there;
        else if (there.result !== undefined && there.result !== stmt.origin.result) {
          if (this.#mayBeNewer(stmt)) stmt.origin = there;
          else this.#changed = stmt.origin;
        }
      }
    } else {
      this.#makeRoom(s.state, stmt.serverName);
      const described: Described = {};
      s.state.prepared.set(stmt.serverName, described);
      if (this.#mayBeNewer(stmt)) stmt.origin = {};
      const origin = stmt.origin;
      if (origin.result === undefined) stmt.origin = described;
      this.#prepareAgain(stmt.parse, stmt.serverName, origin, described);
    }
    return stmt;
  }

  /**
   * Prepare a client's statement on this connection, which does not have it (the unnamed one:
   * `serverName` ''). As PostgreSQL analyses a statement again when its tables changed, it is
   * prepared with the parameter types it was first given, and described; when what the client
   * was told is known (`origin`), the client's messages wait for that Describe (a Flush makes the
   * server answer before the client's Sync), and a result that differs fails the client's Bind
   * (see #checked). Off the hot path: once per statement per server connection.
   */
  #prepareAgain(parse: Buffer, serverName: string, origin: Described | null, described: Described | null): void {
    const known = origin !== null && origin.params !== undefined && origin.result !== undefined;
    this.#forward(known ? withParamTypes(parse, origin.params!) : parse, serverName ? { kind: K.Parse, swallow: true, serverName } : { kind: K.Parse, swallow: true });
    if (!known && described === null) return;
    const entry: Entry = { kind: K.Describe, swallow: true, described: described ?? {}, serverName, ...(known ? { check: origin } : {}) };
    this.#forward(encodeDescribe('S', serverName), entry);
    if (!known) return;
    this.#toServer.add(FLUSH);
    this.#checking = entry;
  }

  #refuseChangedNow(tag: number, frame: Buffer): void {
    const origin = this.#changed!;
    this.#changed = null;
    this.#refuseChanged(tag, frame, origin);
  }

  /** The message that made a statement be prepared again waits, first in the backlog, with those after it. */
  #hold(tag: number, frame: Buffer, effect: LeaseEffect | undefined): void {
    this.#backlog.unshift({ tag, frame, ...(effect ? { effect } : {}) });
  }

  /**
   * The Describe of a statement prepared again has been answered. The same result as the client
   * was told: its messages go on (and the connection's statement is recorded with the client's
   * description, so that the next use finds them the same object). Another: see #refuseChanged;
   * the connection keeps the statement, which fits the clients that prepared it after the change.
   */
  #checked(e: Entry): void {
    this.#checking = null;
    const origin = e.check!;
    const s = this.#server!;
    if (origin.result === e.described!.result) {
      if (e.serverName && s.state.prepared.get(e.serverName) === e.described) s.state.prepared.set(e.serverName, origin);
    } else {
      // The unnamed statement is prepared again (and compared) at its next use.
      if (!e.serverName) s.state.unnamed = null;
      // Other connections may hold plans of the old tables: a statement prepared from now on gets a new name.
      this.#generation.n++;
      const held = this.#backlog.shift()!;
      this.#refuseChanged(held.tag, held.frame, origin);
    }
    this.#drainBacklog();
  }

  /**
   * A Bind or Describe of a statement whose result on this connection differs from what the
   * client was told when it prepared it: PostgreSQL's answer, 0A000 "cached plan must not change
   * result type", at the Bind, and at a Describe of a statement that had rows (one that had none
   * is described as before, PostgreSQL does not look again). The server is made to fail the
   * message itself (it names a statement no connection has), so that the transaction fails and
   * the rest of the batch is skipped as on PostgreSQL; its error is replaced by PostgreSQL's.
   */
  #refuseChanged(tag: number, frame: Buffer, origin: Described): void {
    if (tag === FE.Bind) this.#forward(renamed(frame, 0, NO_STATEMENT, 2), { kind: K.Bind, replace: RESULT_TYPE_CHANGED }, true);
    else if (origin.result === null) {
      this.#queue.push({ kind: K.Describe, synthetic: Buffer.concat([origin.params!, NO_DATA]) });
      this.#drainSynthetic();
    } else this.#forward(renamed(frame, 1, NO_STATEMENT), { kind: K.Describe, replace: Buffer.concat([origin.params!, RESULT_TYPE_CHANGED]) }, true);
  }

  #touch(state: ServerState, name: string, described: Described): void {
    state.prepared.delete(name);
    state.prepared.set(name, described);
  }

  /** Close the least recently used statement of a connection that has too many. */
  #makeRoom(state: ServerState, name: string): void {
    if (state.unclosed.delete(name)) this.#close(name);
    if (state.prepared.size < MAX_PREPARED_PER_CONNECTION) return;
    const oldest = state.prepared.keys().next().value as string;
    state.prepared.delete(oldest);
    this.#close(oldest);
  }

  #close(name: string): void {
    this.#forward(encodeClose('S', name), { kind: K.Close, swallow: true, closes: name });
  }

  /**
   * A client's statement failed at Bind or Describe. When the server said its plan no longer fits
   * (0A000), the client's Parse had been answered from a statement the connection already had,
   * and the generation has not moved since that Parse, the tables changed outside this pool
   * (which does not move the generation on), perhaps before the client's Parse: what the client
   * was told is then forgotten, and the statement prepared again takes what it returns now (as
   * PostgreSQL would have prepared it), instead of failing at every use; so do the other
   * statements answered from that plan in that generation (#mayBeNewer). A statement prepared
   * for the client, or one prepared before a change made through the pool, keeps failing, as on
   * PostgreSQL.
   */
  #stale(stmt: ClientStatement, error: Buffer): void {
    if (stmt.shared && stmt.generation === this.#generation.n && decodeFields(error).C === '0A000') {
      stmt.origin.staleAt = stmt.generation;
      stmt.origin = {};
      stmt.shared = false;
    }
    this.#evict(stmt.serverName);
  }

  /**
   * The client's Parse was answered from a plan the server has since refused as stale, and
   * nothing changed through the pool between that Parse and the refusal: the client may have
   * prepared the statement after the change (made outside the pool), as PostgreSQL would have
   * prepared it then. Its statement takes the result it has now rather than failing at every use.
   */
  #mayBeNewer(stmt: ClientStatement): boolean {
    if (stmt.shared !== true || stmt.origin.staleAt !== stmt.generation) return false;
    stmt.shared = false;
    return true;
  }

  /**
   * A statement that failed at Bind or Describe (a plan the server can no longer use after the
   * table changed: "cached plan must not change result type", or a type that no longer fits) is
   * closed on the server, so that the client's Parse of it again prepares it afresh, as it would
   * on a connection of its own.
   */
  #evict(serverName: string): void {
    const s = this.#server;
    if (!s || !s.state.prepared.delete(serverName)) return;
    // Other connections may hold the same stale plan: a statement prepared from now on gets a new name.
    this.#generation.n++;
    s.state.unclosed.add(serverName);
  }

  /**
   * Send a message and expect its answer. `fromClient`: one of the client's extended-protocol
   * messages, which leaves the connection busy until a Sync (the lease's own messages and
   * cycles do not).
   */
  #forward(frame: Buffer, entry: Entry, fromClient = false): void {
    // The framer never reuses the memory of a frame it handed out: views are safe to keep.
    this.#toServer.add(frame);
    this.#queue.push(entry);
    if (fromClient) this.#open++;
  }

  #flushServer(): void {
    const s = this.#server;
    if (this.#toServer.empty || !s) return;
    const out = this.#toServer.take();
    const sock = s.conn.socket;
    if (out.length === 1) sock.write(out[0]);
    else if (totalLength(out) < JOIN_BELOW) sock.write(Buffer.concat(out));
    else {
      sock.cork();
      for (const b of out) sock.write(b);
      sock.uncork();
    }
  }

  // ---- server → session ----------------------------------------------------------------------

  #fromServer(chunk: Buffer): void {
    this.#chunk = chunk;
    try {
      this.#scanner.push(chunk, this.#sink);
    } catch (err) {
      this.#chunk = null;
      this.destroy(err as Error);
      return;
    }
    this.#chunk = null;
    this.#flushClient();
    this.#maybeDetach();
  }

  readonly #sink: ScanSink = {
    pass: (bytes) => {
      // Rows and copy data: a run lies within one answer (only other messages end one).
      if (this.#queue[0]?.swallow) return;
      this.#toClient.add(bytes.buffer === this.#chunk?.buffer ? bytes : Buffer.from(bytes));
    },
    message: (tag, frame) => this.#answer(tag, frame.buffer === this.#chunk?.buffer ? frame : Buffer.from(frame)),
  };

  #answer(tag: number, frame: Buffer): void {
    const head = this.#queue[0];
    if (tag === BE.ParameterStatus) {
      const { name, value } = decodeParameterStatus(frame);
      this.#server?.conn.parameters.set(name, value);
      if (!head?.swallow) this.#toClient.add(frame);
      return;
    }
    if (tag === BE.NoticeResponse) {
      if (!head?.swallow) this.#toClient.add(frame);
      return;
    }
    if (tag === BE.NotificationResponse) {
      this.#toClient.add(frame);
      return;
    }
    if (!head) {
      // Nothing was asked: the server says something on its own (a FATAL before it closes). The
      // connection is not handed on.
      if (tag === BE.ErrorResponse) this.#kept = 'an error the server sent on its own';
      this.#toClient.add(frame);
      return;
    }
    if (tag === BE.ErrorResponse) {
      if (head.reset) {
        this.destroy(new Error('the server connection could not take the session settings'));
        return;
      }
      this.#toClient.add(head.replace ?? this.#clientNames(frame, head));
      if (head.kind === K.Cycle) {
        head.failed = true;
        return;
      }
      // The server skips to the Sync: what it will not answer leaves the queue.
      this.#queue.shift();
      if (head.uses) this.#stale(head.uses, frame);
      this.#failedParse(head);
      let unheld = head === this.#checking;
      // A Query before the Sync is skipped too, and owes no ReadyForQuery.
      while (this.#queue.length > 0 && (this.#queue[0].kind !== K.Cycle || this.#queue[0].query)) {
        const e = this.#queue.shift()!;
        if (e === this.#checking) unheld = true;
        this.#failedParse(e);
        if (e.kind === K.Cycle) {
          e.failed = true;
          this.#cycleDone(e, this.#status);
        }
      }
      if (this.#queue.length > 0) this.#queue[0].failed = true;
      else {
        // The Sync has not come yet: what comes before it is skipped by the server, and dropped
        // here; the connection stays with the session until that Sync has been answered.
        this.#skipToSync = true;
        this.#open = Math.max(this.#open, 1);
      }
      if (unheld) {
        // The statement's Describe was skipped too: the waiting messages are, up to their Sync.
        this.#checking = null;
        this.#skipToSync = true;
        this.#drainBacklog();
      }
      return;
    }
    const described = head.described;
    if (described !== undefined) {
      if (tag === BE.ParameterDescription) described.params = Buffer.from(frame);
      else if (tag === BE.RowDescription) described.result = resultShape(frame);
      else if (tag === BE.NoData) described.result = null;
    }
    if (!head.swallow) this.#toClient.add(frame);
    if (!ends(head.kind, tag)) return;
    this.#queue.shift();
    if (head.kind === K.Cycle) {
      if (!head.reset) this.#status = frame[5];
      this.#cycleDone(head, frame[5]);
    }
    if (head === this.#checking) this.#checked(head);
    this.#drainSynthetic();
  }

  /**
   * The server's error as the client would have had it directly: a gateway statement name in its
   * text (`bind message supplies 0 parameters, but prepared statement "pgw_…" requires 1`) is
   * the client's name for that statement. A name no statement of this session goes by stays.
   */
  #clientNames(frame: Buffer, head: Entry): Buffer {
    if (!frame.includes('"pgw_')) return frame;
    const fields = decodeFields(frame);
    const named = (serverName: string): string | undefined => {
      if (head.client?.stmt.serverName === serverName) return head.client.name;
      for (const [name, stmt] of this.#statements) if (stmt.serverName === serverName) return name;
      return undefined;
    };
    let changed = false;
    for (const k of ['M', 'D', 'H', 'W'] as const) {
      const v = fields[k];
      if (v === undefined || !v.includes('"pgw_')) continue;
      fields[k] = v.replace(/"(pgw_[0-9a-f]{24})"/g, (whole, serverName: string) => {
        const name = named(serverName);
        if (name === undefined) return whole;
        changed = true;
        // PostgreSQL quotes the name as it is, without escaping.
        return `"${name}"`;
      });
    }
    return changed ? encodeFieldMap(BE.ErrorResponse, fields) : frame;
  }

  /** A Parse the server did not run: its statement is not there, and the client's name is not made. */
  #failedParse(e: Entry): void {
    if (e.closes !== undefined) this.#server?.state.unclosed.add(e.closes);
    if (e.kind !== K.Parse) return;
    if (e.serverName) this.#server?.state.prepared.delete(e.serverName);
    if (e.client && e.client.map.get(e.client.name) === e.client.stmt) e.client.map.delete(e.client.name);
  }

  #cycleDone(e: Entry, status: number): void {
    if (e.reset) return;
    // Whether or not it failed: part of it may have run. Inside a transaction block, other
    // connections see the change (COMMIT) or its undoing (ROLLBACK, a failed block) only when the
    // block ends, and the plans prepared there meanwhile hold the tables as they were: the
    // generation moves on again then.
    if (e.effects?.some((fx) => fx.schema)) {
      this.#generation.n++;
      if (status !== 0x49) this.#schemaInBlock = true;
    } else if (this.#schemaInBlock && status === 0x49) {
      this.#schemaInBlock = false;
      this.#generation.n++;
    }
    if (!e.effects) return;
    if (e.effects.some((fx) => fx.unknownSettings) && this.#server) this.#server.state.settings = UNKNOWN_STATE;
    for (const fx of e.effects) {
      if (!fx.settings) continue;
      if (e.failed) continue;
      if (status !== 0x49) {
        this.#pin('a setting changed inside a transaction block');
        continue;
      }
      for (const st of fx.settings) {
        if (st.action === 'reset_all') this.#settings.clear();
        else if (st.action === 'reset') this.#settings.delete(st.name!);
        else this.#settings.set(st.name!, st.text);
      }
      if (this.#server) this.#server.state.settings = this.#settings.size > 0 ? this : null;
    }
  }

  /** Answers the lease makes itself go out once everything before them is answered. */
  #drainSynthetic(): void {
    while (this.#queue.length > 0 && this.#queue[0].synthetic) {
      const e = this.#queue.shift()!;
      this.#toClient.add(e.synthetic!);
    }
  }

  #flushClient(): void {
    if (this.#toClient.empty) return;
    const out = this.#toClient.take();
    const ok = this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    if (!ok) this.#server?.conn.socket.pause();
  }

  #lost(): void {
    if (this.#mode !== null) return;
    this.#unhook();
    const s = this.#server;
    this.#server = null;
    s?.lease.release('broken');
    this.destroy();
  }
}

/**
 * Open a transaction-pooled lease for a session with these startup settings: one connection is
 * taken at once (for its parameters, and to report an upstream that cannot be reached now) and
 * given back; after that a connection is taken per transaction.
 */
export async function leaseTransactional(pool: UpstreamPool, target: UpstreamTarget, startupParams: Record<string, string>, o: TransactionLeaseOptions): Promise<UpstreamLease> {
  const first = await pool.acquire(startupParams);
  const lease = new TransactionLease(pool, startupParams, target, o, first.connection);
  first.release('keep');
  return lease;
}

