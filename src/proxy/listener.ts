/**
 * The PostgreSQL listener: accepts sockets, runs the handshake under a timeout and the
 * connection limits, and starts a relay session for each authenticated client.
 *
 * A failure of one connection (bad token, malformed packet, unreachable upstream) ends that
 * connection with a FATAL ErrorResponse and a log line; the listener and every other session go
 * on. Settings are read through `settings()` on each new connection, so a config reload applies
 * to new connections without touching open ones.
 */
import net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { GatewayError, toGatewayError } from '../errors.ts';
import type { Identity, TokenVerifier } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { MessageTooLargeError, ProtocolError } from '../protocol/index.ts';
import { BufferBudget, PINNED_UPSTREAM_SETTINGS, channelPair, errorResponse, openSession, type EngineDeps, type OpenSessionRequest, type SessionContext, type SessionParts, type StageClock } from '../engine/index.ts';
import { leaseFromPool, leaseTransactional, openLease, type ScramKeyCache, type UpstreamLease, type UpstreamPool } from '../upstream/index.ts';
import { handshake, pinSearchPath, type Authorization, type Route } from './handshake.ts';
import { SocketClosedError, StartupLengthError } from './socket-reader.ts';
import { quotedValue } from './quoted-value.ts';
import { identityKey, type Limits, type SessionRegistry } from './registry.ts';

export interface ListenerSettings {
  limits: Limits & {
    max_message_size: number;
    handshake_timeout: number;
    first_byte_timeout: number;
    /** Unset: statements are capped by max_message_size only. */
    max_statement_size?: number;
    /** Unset: no cap on client bytes held for an identity / for all sessions. */
    max_buffered_per_identity?: number;
    max_buffered_total?: number;
  };
  tlsContext: tls.SecureContext | null;
  requireTls: boolean;
  expiryGraceMs: number;
  route(database: string): Route | undefined;
  authorize(identity: Identity, database: string): Authorization;
  /** Startup user names accepted for every identity besides its subject (`identity.user_names`). */
  userNames?: readonly string[];
  /** How many sessions the gateway may hold on an upstream (configured, or learned from it). */
  capacity(upstream: string): Promise<number>;
  /** The upstream's connection pool, when it has one (`upstreams.<name>.pool`). */
  pool?(upstream: string): UpstreamPool | undefined;
  /**
   * What a new session is made of: its statement gate (analysis + policy), its masking and its
   * audit binding. Async: the audit records the session start durably first.
   */
  sessionParts(ctx: SessionContext): Promise<SessionParts>;
  /** Measures the time of each pipeline stage when set (the bench's --profile). */
  stageClock?: StageClock | null;
}

export type { SessionContext, SessionParts };

export interface ListenerDeps {
  logger: Logger;
  verifier: TokenVerifier;
  registry: SessionRegistry;
  scramCache: ScramKeyCache;
  settings(): ListenerSettings;
  /**
   * Asked again once a session is registered: a revocation made after the token was verified
   * but before the session could be found by `terminateWhere` must still end it.
   */
  isRevoked?(identity: Identity): boolean;
  /** Told of each session that starts and each connection refused before it (for metrics). */
  observe?: { opened(via: string): void; refused(reason: string): void };
  /** A CancelRequest whose key matched no session here (instances sharing a store deliver it). */
  unmatchedCancel?(pid: number, secret: Buffer): void;
}

export interface PostgresListener {
  host: string;
  port: number;
  /** Stop accepting new connections (open sessions go on). */
  stopAccepting(): Promise<void>;
  /**
   * Open a session for an already verified identity over an in-memory channel, through exactly
   * the pipeline wire clients get. Resolves with the client end, which first reads
   * AuthenticationOk … ReadyForQuery. Rejects with a GatewayError (no scope, limits, upstream).
   */
  openInternal(identity: Identity, database: string, o: { via: string; applicationName?: string }): Promise<Duplex>;
}

/** How long a client's cancel connection stays open waiting for the cancel to reach the server. */
const CANCEL_DELIVERY_WAIT_MS = 5000;

/** Client bytes held by the sessions of one listener (its deps), per identity and in all. */
const budgets = new WeakMap<ListenerDeps, BufferBudget>();

function budgetOf(deps: ListenerDeps): BufferBudget {
  let b = budgets.get(deps);
  if (!b) {
    b = new BufferBudget(() => {
      const l = deps.settings().limits;
      return { perIdentity: l.max_buffered_per_identity ?? Infinity, total: l.max_buffered_total ?? Infinity };
    });
    budgets.set(deps, b);
  }
  return b;
}

function classify(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof MessageTooLargeError) return new GatewayError('protocol.message_too_large', `pgwarden: ${err.message}`);
  if (err instanceof ProtocolError) return new GatewayError('protocol.violation', `pgwarden: invalid startup from the client: ${err.message}`);
  return toGatewayError(err);
}

export async function listenPostgres(host: string, port: number, deps: ListenerDeps): Promise<PostgresListener> {
  const server = net.createServer({ noDelay: true }, (socket) => accept(socket, deps));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => deps.logger.error({ err: err.message }, 'postgres listener error'));
  const addr = server.address() as net.AddressInfo;
  return {
    host: addr.address,
    port: addr.port,
    stopAccepting: () => new Promise<void>((resolve) => server.close(() => resolve())),
    openInternal: (identity, database, o) => openInternal(identity, database, o, deps),
  };
}

async function openInternal(identity: Identity, database: string, o: { via: string; applicationName?: string }, deps: ListenerDeps): Promise<Duplex> {
  const settings = deps.settings();
  const route = settings.route(database);
  if (!route) throw new GatewayError('conn.unknown_database', `pgwarden: database "${quotedValue(database)}" is not served by this gateway`);
  const scope = settings.authorize(identity, database);
  if ('refusal' in scope) throw new GatewayError('auth.no_scope', scope.refusal);
  const applicationName = o.applicationName ?? `pgwarden-${o.via}`;
  const startupParams = new Map([['application_name', applicationName]]);
  const upstreamParams = { application_name: applicationName, ...scope.upstreamSettings, ...PINNED_UPSTREAM_SETTINGS };
  pinSearchPath(startupParams, upstreamParams, scope.searchPath);
  const upstream = await leaseFor(deps, settings, identity, route, upstreamParams);
  const [clientEnd, serverEnd] = channelPair();
  await openSession(
    {
      client: serverEnd,
      clientLeftover: null,
      identity,
      database,
      route,
      startupParams,
      source: o.via,
      tls: false,
      via: o.via,
      upstream,
    },
    engineDeps(settings, deps),
  );
  return clientEnd;
}

/**
 * Count a session of `identity` against the identity's and the upstream's limits, and open its
 * upstream lease; the count is given back when the lease's connection has closed.
 */
async function leaseFor(deps: ListenerDeps, settings: ListenerSettings, identity: Identity, route: Route, startupParams: Record<string, string>): Promise<UpstreamLease> {
  const releaseIdentity = await admit(deps, settings, identity, route);
  try {
    // The session's upstream slot is free once its connection is gone (the lease ends it and
    // destroys it after 2 s at the latest), not as soon as the client left: counting it free
    // earlier could let the next session meet the database's own "too many clients".
    const pool = settings.pool?.(route.upstream);
    if (pool?.settings().mode === 'transaction') {
      return await leaseTransactional(pool, route.target, startupParams, { onClosed: releaseIdentity, identity: identityKey(identity), applicationName: startupParams.application_name });
    }
    if (pool) return await leaseFromPool(pool, route.target, startupParams, { onClosed: releaseIdentity });
    return await openLease(route.target, startupParams, deps.scramCache, { onClosed: releaseIdentity });
  } catch (err) {
    releaseIdentity();
    throw err;
  }
}

/** What the engine opens each session with, from the settings read for this connection. */
function engineDeps(settings: ListenerSettings, deps: ListenerDeps): EngineDeps {
  return {
    logger: deps.logger,
    limits: settings.limits,
    expiryGraceMs: settings.expiryGraceMs,
    budget: budgetOf(deps),
    budgetKey: identityKey,
    sessionParts: settings.sessionParts,
    sessions: deps.registry,
    isRevoked: deps.isRevoked,
    clock: settings.stageClock ?? null,
    opened: deps.observe?.opened,
  };
}

/** Count a session of `identity` on the route's upstream against the identity's and the upstream's limits. */
async function admit(deps: ListenerDeps, settings: ListenerSettings, identity: Identity, route: Route): Promise<() => void> {
  const capacity = await settings.capacity(route.upstream);
  // With transaction pooling, sessions are bounded by the pool's max_clients, not by the server.
  const limit = settings.pool?.(route.upstream)?.settings().mode === 'transaction' ? `upstreams.${route.upstream}.pool.max_clients` : `upstreams.${route.upstream}.max_connections`;
  return deps.registry.admit(identity, route.upstream, capacity, limit);
}

function accept(raw: net.Socket, deps: ListenerDeps): void {
  const log = deps.logger;
  const source = raw.remoteAddress ?? 'unknown';
  const settings = deps.settings();
  raw.setNoDelay(true);
  raw.setKeepAlive(true, 60_000);
  raw.on('error', () => raw.destroy());
  // Until it authenticates, the connection counts against the unauthenticated budget only; it
  // takes one of max_connections when its token has verified (see `admit` below). Over its
  // source's limit of sign-ins it waits for one of them to end, within the handshake timeout.
  let releasePending: () => void = () => {};
  let started = false;
  let stopWaiting: () => void;
  let answerOn: Duplex = raw;
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    stopWaiting();
    const e = started
      ? new GatewayError('conn.handshake_timeout', `pgwarden: the client did not complete the startup within ${settings.limits.handshake_timeout} ms`)
      : new GatewayError('conn.too_many', `pgwarden: too many connections still signing in from ${source} (limit ${settings.limits.max_unauthenticated_per_source}); this one waited ${settings.limits.handshake_timeout} ms for its turn`);
    log.warn({ source, waited: !started }, started ? 'handshake timeout; connection dropped' : 'no sign-in slot within the handshake timeout; connection dropped');
    if (!started) deps.observe?.refused(e.code);
    answerOn.end(errorResponse(e, 'FATAL'));
    setTimeout(() => raw.destroy(), 1000).unref();
  }, settings.limits.handshake_timeout);
  timer.unref();
  try {
    stopWaiting = deps.registry.signIn(
      source,
      () => {
        log.warn({ source }, 'too many connections signing in; the oldest is dropped');
        raw.destroy();
      },
      (release) => {
        started = true;
        releasePending = release;
        if (raw.destroyed) release();
        else {
          raw.once('close', release);
          serve();
        }
      },
    );
  } catch (err) {
    clearTimeout(timer);
    const e = classify(err);
    log.warn({ source, reason: e.message }, 'connection refused');
    deps.observe?.refused(e.code);
    raw.end(errorResponse(e, 'FATAL'));
    return;
  }
  raw.once('close', () => {
    stopWaiting();
    if (!started) clearTimeout(timer);
  });

  function serve(): void {
    // A client sends its first packet at once; a socket that stays silent is closed without a
    // reply, as PostgreSQL closes one that sends no startup packet.
    const firstByte = setTimeout(() => {
      log.debug({ source }, 'no startup packet; connection closed');
      raw.destroy();
    }, settings.limits.first_byte_timeout);
    firstByte.unref();
    raw.once('data', () => clearTimeout(firstByte));
    raw.once('close', () => clearTimeout(firstByte));
    handshake(raw, {
      verifier: deps.verifier,
      tlsContext: settings.tlsContext,
      requireTls: settings.requireTls,
      route: settings.route,
      authorize: settings.authorize,
      userNames: settings.userNames ?? ['agent'],
      lease: (identity, route, startupParams) => {
        const releaseConnection = deps.registry.openConnection(source);
        raw.once('close', releaseConnection);
        releasePending();
        return leaseFor(deps, settings, identity, route, startupParams);
      },
      cancel: (pid, secret) => {
        let delivered: Promise<void> | undefined;
        const matched = deps.registry.cancel(pid, secret, (done) => (delivered = done));
        log.debug({ source, matched }, 'cancel request');
        // A key of this process's range that matched nothing here may be another instance's.
        if (!matched && deps.registry.owns(pid)) deps.unmatchedCancel?.(pid, secret);
        return delivered;
      },
      onSocket: (s) => {
        answerOn = s;
        s.on('error', () => s.destroy());
      },
    }).then(
      (result) => {
        clearTimeout(timer);
        if (done) {
          // Timed out while the upstream connected: give the connection back.
          if (result.kind === 'session') result.upstream.release('broken');
          return;
        }
        done = true;
        if (result.kind === 'cancel') {
          // As PostgreSQL's postmaster does, the cancel connection closes only once the server has
          // the cancel: a client (libpq, asyncpg) waits for this close before its next statement,
          // so that a cancel still on its way cannot hit that statement instead. Bounded, so that
          // an unreachable server does not keep the connection open.
          const cap = new Promise<void>((r) => setTimeout(r, CANCEL_DELIVERY_WAIT_MS).unref());
          void Promise.race([result.delivered?.catch(() => {}) ?? Promise.resolve(), cap]).then(() => raw.end());
          return;
        }
        const req: OpenSessionRequest = {
          client: result.socket,
          clientLeftover: result.leftover,
          identity: result.identity,
          database: result.database,
          route: result.route,
          startupParams: result.params,
          source,
          tls: result.tls,
          via: 'wire',
          upstream: result.upstream,
        };
        // On a failure the engine has released the lease; the client is told why.
        openSession(req, engineDeps(settings, deps)).catch((err) => {
          const e = classify(err);
          log.warn({ source, code: e.code, reason: e.message }, 'session could not start');
          deps.observe?.refused(e.code);
          result.socket.end(errorResponse(e, 'FATAL'));
        });
      },
      (err) => {
        clearTimeout(timer);
        if (done) return;
        done = true;
        if (err instanceof SocketClosedError) {
          raw.destroy();
          return;
        }
        if (err instanceof StartupLengthError) {
          log.warn({ source, length: err.length }, 'invalid length of startup packet; connection closed without a reply');
          raw.destroy();
          return;
        }
        const e = classify(err);
        const cause = e.cause instanceof Error ? e.cause.message : undefined;
        log.warn({ source, code: e.code, reason: e.message, cause }, 'connection refused');
        deps.observe?.refused(e.code);
        answerOn.end(errorResponse(e, 'FATAL'));
        setTimeout(() => raw.destroy(), 1000).unref();
      },
    );
  }
}
