/**
 * A pool of server connections for one upstream.
 *
 * Connections are opened with a session's startup settings (the pinned lexing settings, the
 * scope's limits, the client's allowed settings) and are reused only by sessions whose startup
 * settings are the same, `application_name` aside (it is set on lease when it differs), whoever
 * the identity: a setting given at startup is the value `RESET` returns to, so sharing a
 * connection between different settings could hand one scope another's limits.
 *
 * A lease ends with `release(state)`:
 * - `clean`: the server is idle outside a transaction, with nothing in flight. The connection is
 *   reset with `DISCARD ALL` (prepared statements, portals, temporary objects, settings, LISTEN,
 *   session advisory locks, `SET ROLE`/`SESSION AUTHORIZATION`), and goes back to the pool only
 *   when the reset answers exactly `DISCARD ALL` and ReadyForQuery idle; otherwise it is closed.
 * - `dirty`: anything else (in a transaction, a statement in flight, state the gateway cannot
 *   vouch for): closed with a Terminate.
 * - `broken`: destroyed at once.
 *
 * Limits: at most `size` connections open (leased, idle or opening) and never more than the
 * upstream's capacity. A session that finds none free waits in line, first come first served,
 * for at most `max_client_wait`, then gets 53300. An idle connection of other settings is closed
 * to make room. Idle connections beyond `min_idle` close after `idle_timeout`.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { BE, MessageFramer, decodeParameterStatus, encodeQuery, TERMINATE, type TxStatus } from '../protocol/index.ts';
import { cancelUpstream, type UpstreamConnection, type UpstreamTarget } from './connect.ts';
import type { LeaseOptions, ReleaseMode, UpstreamLease } from './lease.ts';

export interface PoolConfig {
  mode: 'session' | 'transaction';
  /** Transaction mode: pin a session that leaves state a connection cannot hand on, or refuse the statement. */
  on_session_state?: 'pin' | 'refuse';
  /** Transaction mode: most sessions of one identity pinned at once (default: half of size). */
  max_pinned_per_identity?: number;
  size: number;
  min_idle: number;
  /** ms */
  idle_timeout: number;
  /** ms */
  max_client_wait: number;
}

export type ReleaseState = ReleaseMode;

/** A server connection lent to one session until `release`. */
export interface PoolLease {
  readonly connection: UpstreamConnection;
  /** True when the connection served an earlier session. */
  readonly reused: boolean;
  /**
   * `keep` (transaction pooling): the connection goes back idle as it is, with no reset; the
   * caller vouches that it is idle outside a transaction and holds no other session's state.
   */
  release(state: ReleaseState | 'keep'): void;
}

/**
 * Who waits for a connection (`UpstreamPool.take`): exactly one of `grant` and `fail` is called,
 * once, possibly before `take` returns (an idle connection of the settings is there, or the pool
 * is closed).
 */
export interface PoolTaker {
  grant(lease: PoolLease): void;
  fail(err: unknown): void;
}

export interface PoolDeps {
  /** The upstream's key in the configuration. */
  name: string;
  connect(params: Record<string, string>): Promise<UpstreamConnection>;
  config(): PoolConfig;
  /** How many connections the upstream takes (the pool never opens more). */
  capacity(): Promise<number>;
  logger: Logger;
  now?: () => number;
}

export interface PoolStats {
  open: number;
  idle: number;
  leased: number;
  opening: number;
  waiting: number;
  /** Leases that reused a connection, and ones that opened one, since the pool started. */
  reused: number;
  opened: number;
}

interface Pooled {
  conn: UpstreamConnection;
  key: string;
  /** Startup settings it was opened with (for min_idle refills). */
  params: Record<string, string>;
  idleSince: number;
  /** Listener for anything the server says or does while it sits idle (made once, on while idle). */
  gone?: () => void;
  listening?: boolean;
}

interface Waiter {
  key: string;
  params: Record<string, string>;
  taker: PoolTaker;
  /** `performance.now()` past which it gets pool.wait_timeout, and the wait it was given (ms). */
  deadline: number;
  waitMs: number;
}

/** A connection lent to one taker; `release` gives it back once. */
class Lent implements PoolLease {
  #done = false;

  constructor(
    private readonly p: Pooled,
    readonly reused: boolean,
    private readonly giveBack: (p: Pooled, state: ReleaseState | 'keep') => void,
  ) {}

  get connection(): UpstreamConnection {
    return this.p.conn;
  }

  release(state: ReleaseState | 'keep'): void {
    if (this.#done) return;
    this.#done = true;
    this.giveBack(this.p, state);
  }
}

const APP = 'application_name';

/** The part of a session's startup settings that decides which connections it may reuse. */
export function poolKey(params: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(params)
      .filter((k) => k !== APP)
      .sort()
      .map((k) => [k, params[k]]),
  );
}

export class UpstreamPool {
  readonly #d: PoolDeps;
  readonly #idle: Pooled[] = [];
  readonly #waiters: Waiter[] = [];
  #leased = 0;
  #opening = 0;
  #resetting = 0;
  #reused = 0;
  #opened = 0;
  #closed = false;
  readonly #sweeper: NodeJS.Timeout;
  #lastParams: Record<string, string> | undefined;
  /**
   * One timer for every waiter's max_client_wait, set for the earliest deadline (a timer per
   * waiter costs an allocation and a clearTimeout per transaction when most sessions wait).
   */
  #waitTimer: NodeJS.Timeout | null = null;
  #waitTimerAt = Number.POSITIVE_INFINITY;
  readonly #giveBack = (p: Pooled, state: ReleaseState | 'keep'): void => {
    this.#leased--;
    this.#takeBack(p, state);
  };

  constructor(deps: PoolDeps) {
    this.#d = deps;
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
  }

  #now(): number {
    return (this.#d.now ?? Date.now)();
  }

  get #open(): number {
    return this.#idle.length + this.#leased + this.#opening + this.#resetting;
  }

  /** The pool's settings in force. */
  settings(): PoolConfig {
    return this.#d.config();
  }

  stats(): PoolStats {
    return { open: this.#open, idle: this.#idle.length, leased: this.#leased, opening: this.#opening, waiting: this.#waiters.length, reused: this.#reused, opened: this.#opened };
  }

  /** A connection with these startup settings: an idle one, a new one, or the next one freed. */
  acquire(params: Record<string, string>, key = poolKey(params)): Promise<PoolLease> {
    return new Promise<PoolLease>((resolve, reject) => this.take(params, { grant: resolve, fail: reject }, key));
  }

  /**
   * `acquire` with a callback, for the transaction lease, which asks once per transaction: an
   * idle connection of these settings is granted before `take` returns, with no promise between.
   */
  take(params: Record<string, string>, taker: PoolTaker, key = poolKey(params)): void {
    if (this.#closed) return taker.fail(new GatewayError('upstream.unavailable', `pgwarden: the pool of upstream ${this.#d.name} is closed`));
    this.#lastParams = params;
    const idle = this.#takeIdle(key);
    if (idle) return this.#lend(idle, params, true, taker);
    void this.#limit().then(
      (limit) => {
        if (this.#open >= limit) this.#closeIdleOfOtherSettings(key);
        if (this.#open < limit && this.#waiters.length === 0) this.#openFor(key, params, taker);
        else this.#wait(key, params, taker);
      },
      (err: unknown) => taker.fail(err),
    );
  }

  /** The upstream's capacity as last learned. */
  #capacity = Number.POSITIVE_INFINITY;

  async #limit(): Promise<number> {
    this.#capacity = await this.#d.capacity().catch(() => this.#capacity);
    return this.#limitNow();
  }

  #limitNow(): number {
    return Math.max(1, Math.min(this.#d.config().size, this.#capacity));
  }

  #takeIdle(key: string): Pooled | undefined {
    // Most recently used first: its backend's caches are warm, and the oldest age out.
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      if (this.#idle[i].key === key) return this.#idle.splice(i, 1)[0];
    }
    return undefined;
  }

  #closeIdleOfOtherSettings(key: string): void {
    const i = this.#idle.findIndex((p) => p.key !== key);
    if (i < 0) return;
    const [victim] = this.#idle.splice(i, 1);
    this.#terminate(victim);
  }

  #openFor(key: string, params: Record<string, string>, taker: PoolTaker): void {
    this.#opening++;
    this.#d.connect(params).then(
      (conn) => {
        this.#opening--;
        this.#opened++;
        this.#lend({ conn, key, params, idleSince: 0 }, params, false, taker);
      },
      (err: unknown) => {
        this.#opening--;
        this.#dispatch();
        taker.fail(err);
      },
    );
  }

  #wait(key: string, params: Record<string, string>, taker: PoolTaker): void {
    const waitMs = this.#d.config().max_client_wait;
    const deadline = performance.now() + waitMs;
    this.#waiters.push({ key, params, taker, deadline, waitMs });
    if (deadline < this.#waitTimerAt) this.#armWaitTimer(deadline);
    this.#dispatch();
  }

  #armWaitTimer(deadline: number): void {
    if (this.#waitTimer) clearTimeout(this.#waitTimer);
    this.#waitTimerAt = deadline;
    this.#waitTimer = setTimeout(this.#expireWaiters, Math.max(0, Math.ceil(deadline - performance.now())));
  }

  #stopWaitTimer(): void {
    if (!this.#waitTimer) return;
    clearTimeout(this.#waitTimer);
    this.#waitTimer = null;
    this.#waitTimerAt = Number.POSITIVE_INFINITY;
  }

  /** Waiters past their max_client_wait get 53300; the timer is set again for the next deadline. */
  readonly #expireWaiters = (): void => {
    this.#waitTimer = null;
    this.#waitTimerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const expired: Waiter[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i];
      if (w.deadline <= now) {
        this.#waiters.splice(i, 1);
        expired.push(w);
      } else {
        next = Math.min(next, w.deadline);
        i++;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armWaitTimer(next);
    for (const w of expired) {
      w.taker.fail(
        new GatewayError('pool.wait_timeout', `pgwarden: no connection to upstream ${this.#d.name} became free within ${w.waitMs} ms`, {
          logDetail: `pool size ${this.#d.config().size}, ${this.#leased} leased, ${this.#waiters.length} waiting`,
        }),
      );
    }
  };

  /** Hand freed capacity to the first waiter: an idle connection of its settings, or a new one. */
  #dispatch(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0];
      const idle = this.#takeIdle(w.key);
      if (idle) {
        this.#waiters.shift();
        this.#lend(idle, w.params, true, w.taker);
        continue;
      }
      if (this.#open >= this.#limitNow()) this.#closeIdleOfOtherSettings(w.key);
      if (this.#open < this.#limitNow()) {
        this.#waiters.shift();
        this.#openFor(w.key, w.params, w.taker);
        continue;
      }
      break;
    }
    if (this.#waiters.length === 0) this.#stopWaitTimer();
  }

  #lend(p: Pooled, params: Record<string, string>, reused: boolean, taker: PoolTaker): void {
    this.#unlisten(p);
    this.#leased++;
    if (reused) this.#reused++;
    const want = params[APP];
    if (reused && want !== undefined && p.conn.parameters.get(APP) !== want) {
      query(p.conn, `SET application_name = '${want.replace(/'/g, "''")}'`, 'SET').then(
        () => taker.grant(new Lent(p, reused, this.#giveBack)),
        (err: Error) => {
          this.#leased--;
          p.conn.socket.destroy();
          this.#d.logger.warn({ upstream: this.#d.name, err: err.message }, 'a pooled connection failed to take application_name; closed');
          this.#dispatch();
          this.take(params, taker);
        },
      );
      return;
    }
    taker.grant(new Lent(p, reused, this.#giveBack));
  }

  #takeBack(p: Pooled, state: ReleaseState | 'keep'): void {
    const sock = p.conn.socket;
    if (this.#closed || state === 'broken' || sock.destroyed) {
      sock.destroy();
      this.#dispatch();
      return;
    }
    if (state === 'keep') {
      // Straight to the first waiter when it takes these settings: what putting it idle and
      // dispatching would do (the waiter takes the idle connection of its settings used last).
      const w = this.#waiters[0];
      if (w !== undefined && w.key === p.key) {
        this.#waiters.shift();
        this.#lend(p, w.params, true, w.taker);
      } else this.#putIdle(p);
      this.#dispatch();
      return;
    }
    if (state === 'dirty') {
      this.#terminate(p);
      this.#dispatch();
      return;
    }
    this.#resetting++;
    query(p.conn, 'DISCARD ALL', 'DISCARD ALL').then(
      () => {
        this.#resetting--;
        if (this.#closed) return this.#terminate(p);
        this.#putIdle(p);
        this.#dispatch();
      },
      (err: Error) => {
        this.#resetting--;
        this.#d.logger.warn({ upstream: this.#d.name, err: err.message }, 'a pooled connection could not be reset; closed');
        sock.destroy();
        this.#dispatch();
      },
    );
  }

  #putIdle(p: Pooled): void {
    const sock = p.conn.socket;
    p.idleSince = this.#now();
    // While idle, anything the server sends (a FATAL from pg_terminate_backend or a shutdown) or a
    // close means the connection is gone: it leaves the pool.
    const gone =
      p.gone ??
      (p.gone = () => {
        const i = this.#idle.indexOf(p);
        if (i >= 0) this.#idle.splice(i, 1);
        sock.destroy();
        this.#dispatch();
      });
    sock.on('data', gone);
    sock.on('close', gone);
    sock.on('error', gone);
    sock.resume();
    p.listening = true;
    this.#idle.push(p);
  }

  /** Take the idle listeners off (the connection is lent or closed). */
  #unlisten(p: Pooled): void {
    if (!p.listening) return;
    p.listening = false;
    const sock = p.conn.socket;
    sock.off('data', p.gone!);
    sock.off('close', p.gone!);
    sock.off('error', p.gone!);
    sock.pause();
  }

  #terminate(p: Pooled): void {
    this.#unlisten(p);
    const sock = p.conn.socket;
    if (sock.destroyed) return;
    sock.on('error', () => {});
    sock.end(TERMINATE);
    setTimeout(() => sock.destroy(), 2000).unref();
  }

  #sweep(): void {
    const cfg = this.#d.config();
    const now = this.#now();
    // Oldest first; keep min_idle.
    while (this.#idle.length > cfg.min_idle && now - this.#idle[0].idleSince >= cfg.idle_timeout) {
      this.#terminate(this.#idle.shift() as Pooled);
    }
    const want = cfg.min_idle - this.#idle.length - this.#opening;
    if (want > 0 && this.#lastParams && !this.#closed && this.#open < this.#limitNow()) {
      const params = this.#lastParams;
      for (let i = 0, room = this.#limitNow() - this.#open; i < Math.min(want, room); i++) {
        this.#opening++;
        this.#d.connect(params).then(
          (conn) => {
            this.#opening--;
            this.#opened++;
            if (this.#closed) return conn.socket.destroy();
            this.#putIdle({ conn, key: poolKey(params), params, idleSince: now });
            this.#dispatch();
          },
          (err: Error) => {
            this.#opening--;
            this.#d.logger.warn({ upstream: this.#d.name, err: err.message }, 'could not open an idle pooled connection');
          },
        );
      }
    }
  }

  /** Close idle connections and refuse new leases; leased ones close when released. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#stopWaitTimer();
    for (const w of this.#waiters.splice(0)) w.taker.fail(new GatewayError('conn.shutting_down', 'pgwarden: the gateway is shutting down'));
    for (const p of this.#idle.splice(0)) this.#terminate(p);
  }
}

/**
 * Run one statement on a connection that is idle and not listened to by anyone else; resolves
 * when its ReadyForQuery arrives, if the server answered exactly `tag` and is idle outside a
 * transaction. ParameterStatus messages update the connection's parameters.
 */
export function query(conn: UpstreamConnection, sql: string, tag: string, timeoutMs = 5000): Promise<void> {
  const sock: net.Socket = conn.socket;
  return new Promise<void>((resolve, reject) => {
    const framer = new MessageFramer(1024 * 1024);
    let completed = '';
    let error: string | undefined;
    let status: TxStatus | undefined;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      sock.pause();
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk, (t, frame) => {
          if (status !== undefined) throw new Error('the server sent more after ReadyForQuery');
          if (t === BE.CommandComplete) completed = frame.toString('utf8', 5, frame.length - 1);
          else if (t === BE.ErrorResponse) error = 'the server refused it';
          else if (t === BE.ParameterStatus) {
            const { name, value } = decodeParameterStatus(frame);
            conn.parameters.set(name, value);
          } else if (t === BE.ReadyForQuery) status = String.fromCharCode(frame[5]) as TxStatus;
          else if (t !== BE.NoticeResponse) throw new Error(`unexpected message ${String.fromCharCode(t)}`);
        });
      } catch (err) {
        return finish(err as Error);
      }
      if (status === undefined) return;
      if (framer.buffered > 0) return finish(new Error('the server sent more after ReadyForQuery'));
      conn.txStatus = status;
      if (error) return finish(new Error(`${sql}: ${error}`));
      if (completed !== tag) return finish(new Error(`${sql}: the server answered ${completed || 'nothing'}`));
      if (status !== 'I') return finish(new Error(`${sql}: the server is not idle afterwards (${status})`));
      finish();
    };
    const onError = (err: Error) => finish(err);
    const onClose = () => finish(new Error('the server closed the connection'));
    const timer = setTimeout(() => finish(new Error(`${sql}: no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.resume();
    sock.write(encodeQuery(sql));
  });
}

/**
 * An `UpstreamLease` on a pooled connection. At release the session's listeners are taken off the
 * connection before the pool resets it (the session MUST NOT touch the stream afterwards, as the
 * lease contract says), and the slot the session counted is given back at once: the connection
 * stays the pool's.
 */
class PooledLease implements UpstreamLease {
  readonly stream: Duplex;
  readonly parameters: ReadonlyMap<string, string>;
  readonly backendKey: { readonly pid: number; readonly secret: Buffer };
  readonly txStatus: TxStatus;
  readonly leftover: Buffer | null = null;
  #mode: ReleaseMode | null = null;

  constructor(
    private readonly lease: PoolLease,
    private readonly target: UpstreamTarget,
    private readonly o: LeaseOptions,
  ) {
    const c = lease.connection;
    this.stream = c.socket;
    this.parameters = new Map(c.parameters);
    this.backendKey = { pid: c.pid, secret: c.secret };
    this.txStatus = c.txStatus;
  }

  get released(): ReleaseMode | null {
    return this.#mode;
  }

  cancel(): Promise<void> {
    if (this.#mode !== null) return Promise.resolve();
    return (this.o.sendCancel ?? cancelUpstream)(this.target, this.backendKey.pid, this.backendKey.secret);
  }

  release(mode: ReleaseMode): void {
    if (this.#mode !== null) return;
    this.#mode = mode;
    const s = this.stream;
    for (const event of ['data', 'end', 'close', 'error', 'drain', 'readable']) s.removeAllListeners(event);
    s.pause();
    this.lease.release(mode);
    this.o.onClosed?.();
  }
}

/** Lease a connection of `pool` for a session with these startup settings. */
export async function leaseFromPool(pool: UpstreamPool, target: UpstreamTarget, startupParams: Record<string, string>, o: LeaseOptions = {}): Promise<UpstreamLease> {
  return new PooledLease(await pool.acquire(startupParams), target, o);
}
