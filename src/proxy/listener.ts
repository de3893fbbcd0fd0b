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
import { MessageTooLargeError, ProtocolError, encodeBackendKeyData, encodeParameterStatus, encodeReadyForQuery, AUTH_OK } from '../protocol/index.ts';
import { BufferBudget, PINNED_UPSTREAM_SETTINGS, Session, channelPair, errorResponse, pinnedSettingDrift, type MaskingPort, type StatementAudit, type StatementGate } from '../engine/index.ts';
import { cancelUpstream, connectUpstream, type ScramKeyCache } from '../upstream/index.ts';
import { handshake, type Route } from './handshake.ts';
import { SocketClosedError, StartupLengthError } from './socket-reader.ts';
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
  authorize(identity: Identity, database: string): { upstreamSettings: Record<string, string> } | { refusal: string };
  /** Startup user names accepted for every identity besides its subject (`identity.user_names`). */
  userNames?: readonly string[];
  /** How many sessions the gateway may hold on an upstream (configured, or learned from it). */
  capacity(upstream: string): Promise<number>;
  /**
   * What a new session is made of: its statement gate (analysis + policy), its masking and its
   * audit binding. Async: the audit records the session start durably first.
   */
  sessionParts(ctx: SessionContext): Promise<SessionParts>;
}

export interface SessionContext {
  identity: Identity;
  database: string;
  route: Route;
  startupParams: Map<string, string>;
  source: string;
  tls: boolean;
  /** 'wire' for PostgreSQL clients, or the name of another front end (e.g. 'mcp'). */
  via: string;
}

export interface SessionParts {
  gate: StatementGate;
  masking?: MaskingPort;
  audit?: StatementAudit;
  captureRows?: number;
  /** The policy's max_rows for the session's statements (read as rows arrive, so a reload applies). */
  maxRows?: () => number | undefined;
  /** Called once when the session ends. */
  closed?(reason: string): void;
}

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
  if (!route) throw new GatewayError('conn.unknown_database', `pgwarden: database "${database}" is not served by this gateway`);
  const scope = settings.authorize(identity, database);
  if ('refusal' in scope) throw new GatewayError('auth.no_scope', scope.refusal);
  const releaseIdentity = await admit(deps, settings, identity, route);
  let upstream;
  try {
    upstream = await connectUpstream(route.target, { application_name: o.applicationName ?? `pgwarden-${o.via}`, ...scope.upstreamSettings, ...PINNED_UPSTREAM_SETTINGS }, deps.scramCache);
  } catch (err) {
    releaseIdentity();
    throw err;
  }
  const [clientEnd, serverEnd] = channelPair();
  const params = new Map<string, string>([['application_name', o.applicationName ?? `pgwarden-${o.via}`]]);
  try {
    await startSession(
      { kind: 'session', socket: serverEnd, tls: false, params, database, identity, route, upstream, leftover: null, releaseIdentity },
      o.via,
      settings,
      deps,
      o.via,
    );
  } catch (err) {
    upstream.socket.destroy();
    releaseIdentity();
    throw err;
  }
  return clientEnd;
}

/** Count a session of `identity` on the route's upstream against the identity's and the upstream's limits. */
async function admit(deps: ListenerDeps, settings: ListenerSettings, identity: Identity, route: Route): Promise<() => void> {
  const capacity = await settings.capacity(route.upstream);
  return deps.registry.admit(identity, route.upstream, capacity);
}

function accept(raw: net.Socket, deps: ListenerDeps): void {
  const log = deps.logger;
  const source = raw.remoteAddress ?? 'unknown';
  const settings = deps.settings();
  raw.setNoDelay(true);
  raw.setKeepAlive(true, 60_000);
  raw.on('error', () => raw.destroy());
  // Until it authenticates, the connection counts against the unauthenticated budget only; it
  // takes one of max_connections when its token has verified (see `admit` below).
  let releasePending: () => void;
  try {
    releasePending = deps.registry.openPending(source, () => {
      log.warn({ source }, 'too many connections signing in; the oldest is dropped');
      raw.destroy();
    });
  } catch (err) {
    const e = classify(err);
    log.warn({ source, reason: e.message }, 'connection refused');
    deps.observe?.refused(e.code);
    raw.end(errorResponse(e, 'FATAL'));
    return;
  }
  raw.once('close', releasePending);
  // A client sends its first packet at once; a socket that stays silent is closed without a
  // reply, as PostgreSQL closes one that sends no startup packet.
  const firstByte = setTimeout(() => {
    log.debug({ source }, 'no startup packet; connection closed');
    raw.destroy();
  }, settings.limits.first_byte_timeout);
  firstByte.unref();
  raw.once('data', () => clearTimeout(firstByte));
  raw.once('close', () => clearTimeout(firstByte));
  let answerOn: Duplex = raw;
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    const e = new GatewayError('conn.handshake_timeout', `pgwarden: the client did not complete the startup within ${settings.limits.handshake_timeout} ms`);
    log.warn({ source }, 'handshake timeout; connection dropped');
    answerOn.end(errorResponse(e, 'FATAL'));
    setTimeout(() => raw.destroy(), 1000).unref();
  }, settings.limits.handshake_timeout);
  timer.unref();

  handshake(raw, {
    verifier: deps.verifier,
    tlsContext: settings.tlsContext,
    requireTls: settings.requireTls,
    route: settings.route,
    authorize: settings.authorize,
    userNames: settings.userNames ?? ['agent'],
    admit: (identity, route) => {
      const releaseConnection = deps.registry.openConnection(source);
      raw.once('close', releaseConnection);
      releasePending();
      return admit(deps, settings, identity, route);
    },
    cancel: (pid, secret) => {
      const matched = deps.registry.cancel(pid, secret);
      log.debug({ source, matched }, 'cancel request');
    },
    scramCache: deps.scramCache,
    onSocket: (s) => {
      answerOn = s;
      s.on('error', () => s.destroy());
    },
  }).then(
    (result) => {
      clearTimeout(timer);
      if (done) {
        // Timed out while the upstream connected: give the connection back.
        if (result.kind === 'session') {
          result.releaseIdentity();
          result.upstream.socket.destroy();
        }
        return;
      }
      done = true;
      if (result.kind === 'cancel') {
        raw.end();
        return;
      }
      startSession(result, source, settings, deps, 'wire').catch((err) => {
        const e = classify(err);
        log.warn({ source, code: e.code, reason: e.message }, 'session could not start');
        deps.observe?.refused(e.code);
        result.socket.end(errorResponse(e, 'FATAL'));
        result.upstream.socket.destroy();
        result.releaseIdentity();
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

async function startSession(
  h: Extract<Awaited<ReturnType<typeof handshake>>, { kind: 'session' }>,
  source: string,
  settings: ListenerSettings,
  deps: ListenerDeps,
  via: string,
): Promise<void> {
  const log = deps.logger.child({ subject: h.identity.subject, issuer: h.identity.issuerName, database: h.database, source, via });
  for (const [name, value] of h.upstream.parameters) {
    const drift = pinnedSettingDrift(name, value);
    if (drift !== undefined) {
      log.error({ upstream: h.route.upstream, parameter: name, value }, 'the upstream did not take a pinned lexing setting; session refused');
      throw new GatewayError('upstream.unavailable', `pgwarden: ${drift}, so statements could not be read as the database reads them`);
    }
  }
  const parts = await settings.sessionParts({ identity: h.identity, database: h.database, route: h.route, startupParams: h.params, source, tls: h.tls, via });
  const upstream = h.upstream;
  let keys: ReturnType<SessionRegistry['register']> | null = null;
  const startedAt = Date.now();
  const session = new Session({
    client: h.socket,
    upstream: upstream.socket,
    identity: h.identity,
    logger: log,
    maxMessageSize: settings.limits.max_message_size,
    maxStatementSize: settings.limits.max_statement_size,
    budget: budgetOf(deps),
    budgetKey: identityKey(h.identity),
    expiresAt: h.identity.expiresAt + settings.expiryGraceMs,
    gate: parts.gate,
    masking: parts.masking,
    audit: parts.audit,
    captureRows: parts.captureRows,
    maxRows: parts.maxRows,
    onClose: (reason) => {
      keys?.unregister();
      // The session's upstream slot is free once its connection is gone (the session ends it and
      // destroys it after 2 s at the latest), not as soon as the client left: counting it free
      // earlier could let the next session meet the database's own "too many clients".
      if (upstream.socket.closed) h.releaseIdentity();
      else upstream.socket.once('close', h.releaseIdentity);
      parts.closed?.(reason);
      log.info({ reason, durationMs: Date.now() - startedAt }, 'session closed');
    },
  });
  keys = deps.registry.register({
    identity: h.identity,
    terminate: (err) => session.terminate(err),
    cancel: () => {
      // A statement held for review has not reached the database: abandoning it is the cancel.
      if (session.cancelHeld()) return;
      cancelUpstream(h.route.target, upstream.pid, upstream.secret).catch((err) => log.warn({ err: (err as Error).message }, 'cancel could not reach the upstream'));
    },
  });
  if (deps.isRevoked?.(h.identity)) {
    keys.unregister();
    throw new GatewayError('auth.revoked', `pgwarden: access for ${h.identity.subject} has been revoked`);
  }
  // The client learns the upstream's parameters, the gateway's own cancel key, and the upstream's
  // transaction status; never the upstream's pid or secret.
  const hello: Buffer[] = [AUTH_OK];
  for (const [name, value] of upstream.parameters) hello.push(encodeParameterStatus(name, value));
  hello.push(encodeBackendKeyData(keys.pid, keys.secret), encodeReadyForQuery(upstream.txStatus));
  h.socket.write(Buffer.concat(hello));
  log.info({ tls: h.tls, application: h.params.get('application_name') }, 'session opened');
  deps.observe?.opened(via);
  session.start(h.leftover, upstream.leftover);
}
