/**
 * The engine's hold on a server connection: an `UpstreamLease`. A session reads and writes the
 * lease's stream and gives it back with `release(mode)`, saying in what state it leaves the
 * connection; it never ends or destroys the stream itself. Whether a released connection is
 * closed or kept for another session is the lease's business, so pooling can be added here
 * without touching the engine.
 *
 * Today each lease is one dedicated connection, opened for one client session and closed when it
 * is released, whatever the mode: `clean` and `dirty` end it with a Terminate message (the server
 * rolls back anything open) and destroy it after a grace period if the server does not close it;
 * `broken` destroys it at once.
 */
import type { Duplex } from 'node:stream';
import { TERMINATE, type TxStatus } from '../protocol/index.ts';
import { cancelUpstream, connectUpstream, type UpstreamConnection, type UpstreamTarget } from './connect.ts';
import type { ScramKeyCache } from './scram.ts';

/**
 * The state a session leaves its server connection in:
 * - `clean`: idle between statements (its last ReadyForQuery said `I`, nothing in flight);
 * - `dirty`: alive but not idle (a transaction open, a statement, result or COPY in flight, a
 *   batch forwarded without its Sync): it must be rolled back and reset, or closed, before reuse;
 * - `broken`: gone or not to be trusted (it closed, said FATAL, left a pinned setting, or sent
 *   bytes that could not be relayed): closed at once.
 * Session state a client may leave behind (prepared statements, settings, temporary tables) is
 * not part of `clean`: a pool MUST reset it before another session gets the connection.
 */
export type ReleaseMode = 'clean' | 'dirty' | 'broken';

/** What a statement leaves on its server connection beyond its transaction (see engine/pool-effects.ts). */
export interface LeaseEffect {
  /** Why the session must keep its server connection from now on. */
  pin?: string;
  /** Session settings changed by a lone SET / RESET, with the statement to replay. */
  settings?: { name: string | null; action: 'set' | 'reset' | 'reset_all'; text: string }[];
  /** The statement drops the server's prepared statements (DISCARD ALL, DEALLOCATE). */
  dropsPrepared?: true;
  /**
   * SQL PREPARE / EXECUTE / DEALLOCATE: the statement names prepared statements, which share one
   * namespace with the protocol's, so the client's names must be the server's from now on.
   */
  sqlNames?: true;
  /**
   * The statement may change what other statements' plans return (DDL, or code the gateway cannot
   * see: DO, CALL): statements prepared after its cycle get fresh plans on every connection.
   */
  schema?: true;
  /**
   * The statement runs code the gateway cannot follow that may change session settings (a DO
   * block, a procedure, a function whose body may): the connection is reset before it is lent
   * again, to this session or another.
   */
  unknownSettings?: true;
}

export interface UpstreamLease {
  /**
   * The server connection: authenticated, at a ReadyForQuery when leased. The holder reads and
   * writes it (and may pause and resume it) until it releases the lease, and MUST NOT end or
   * destroy it: that is `release`.
   */
  readonly stream: Duplex;
  /** The ParameterStatus values the server sent at startup, in order. */
  readonly parameters: ReadonlyMap<string, string>;
  /** The server's own cancel key. It MUST NOT reach a client (clients get the gateway's). */
  readonly backendKey: { readonly pid: number; readonly secret: Buffer };
  /** The transaction status of the ReadyForQuery the lease starts at. */
  readonly txStatus: TxStatus;
  /** Server bytes that arrived after that ReadyForQuery (none in practice). */
  readonly leftover: Buffer | null;
  /** Ask the server to cancel what the connection runs now (a CancelRequest with its key). Nothing after release. */
  cancel(): Promise<void>;
  /** Give the connection back. Idempotent: the first call decides, later ones do nothing. */
  release(mode: ReleaseMode): void;
  /**
   * Present when the lease lends a connection per transaction: what the `n`th Query or Parse
   * message written on the stream (counting from 1) leaves on its server connection.
   */
  note?(n: number, effect: LeaseEffect): void;
  /** Told once when the session gets pinned to one server connection, and why (per-transaction leases). */
  onPin?: ((reason: string) => void) | null;
  /** The mode it was released in, or null while held. */
  readonly released: ReleaseMode | null;
}

export interface LeaseOptions {
  /**
   * Called once when the server connection is closed (after release, or when the server or the
   * network closed it first): the slot it took on the upstream is free again.
   */
  onClosed?: () => void;
  /** How long a `clean` or `dirty` release waits for the server to close before destroying (ms, default 2000). */
  closeGraceMs?: number;
  /** Sends the CancelRequest (default `cancelUpstream`, over a connection of its own). */
  sendCancel?: (target: UpstreamTarget, pid: number, secret: Buffer) => Promise<void>;
}

/** A lease on a connection opened for one session alone, closed when released. */
class DedicatedLease implements UpstreamLease {
  readonly stream: Duplex;
  readonly parameters: ReadonlyMap<string, string>;
  readonly backendKey: { readonly pid: number; readonly secret: Buffer };
  readonly txStatus: TxStatus;
  readonly leftover: Buffer | null;
  private mode: ReleaseMode | null = null;

  constructor(
    conn: UpstreamConnection,
    private readonly target: UpstreamTarget,
    private readonly o: LeaseOptions,
  ) {
    this.stream = conn.socket;
    this.parameters = conn.parameters;
    this.backendKey = { pid: conn.pid, secret: conn.secret };
    this.txStatus = conn.txStatus;
    this.leftover = conn.leftover;
    const onClosed = o.onClosed;
    if (onClosed) {
      if (conn.socket.closed) queueMicrotask(onClosed);
      else conn.socket.once('close', onClosed);
    }
  }

  get released(): ReleaseMode | null {
    return this.mode;
  }

  cancel(): Promise<void> {
    if (this.mode !== null) return Promise.resolve();
    return (this.o.sendCancel ?? cancelUpstream)(this.target, this.backendKey.pid, this.backendKey.secret);
  }

  release(mode: ReleaseMode): void {
    if (this.mode !== null) return;
    this.mode = mode;
    const s = this.stream;
    if (mode === 'broken') {
      s.destroy();
      return;
    }
    // Terminate, then the server closes its end; a server that never does is cut off.
    if (!s.destroyed && !s.writableEnded) s.end(TERMINATE);
    if (!s.destroyed) setTimeout(() => s.destroy(), this.o.closeGraceMs ?? 2000).unref();
  }
}

/** Lease an already opened connection (it is the lease's from now on). */
export function leaseConnection(conn: UpstreamConnection, target: UpstreamTarget, o: LeaseOptions = {}): UpstreamLease {
  return new DedicatedLease(conn, target, o);
}

/**
 * Open a connection to `target` (TCP, TLS, sign-in, first ReadyForQuery; see `connectUpstream`)
 * and lease it. `onClosed` is not called when the connection cannot be opened: the caller still
 * holds whatever it counted for it.
 */
export async function openLease(target: UpstreamTarget, startupParams: Record<string, string>, scramCache: ScramKeyCache, o: LeaseOptions = {}): Promise<UpstreamLease> {
  return leaseConnection(await connectUpstream(target, startupParams, scramCache), target, o);
}
