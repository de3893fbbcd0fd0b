/**
 * The one way a session is opened, whatever the front end: the wire listener (a PostgreSQL
 * client on a socket) and the MCP tools (a client on an in-memory channel) both come here with an
 * authenticated identity, the client's stream and an upstream lease.
 *
 *   the lease's parameters hold the pinned lexing settings?  no → upstream.unavailable (08006)
 *   → the session's parts (audit session start, durably; gate, masking, max_rows)
 *                                                               fails → audit.unavailable (58000)
 *   → the Session, registered for cancel and terminate (the gateway's own cancel key)
 *   → revoked meanwhile?                                       yes → auth.revoked (28000)
 *   → AuthenticationOk, the server's ParameterStatus, BackendKeyData, ReadyForQuery → relay.
 *
 * On a failure the lease is released (`broken`) and the error thrown: the caller tells its client.
 */
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { AUTH_OK, encodeBackendKeyData, encodeParameterStatus, encodeReadyForQuery } from '../protocol/index.ts';
import type { UpstreamLease, UpstreamTarget } from '../upstream/index.ts';
import type { BufferBudget } from './buffer-budget.ts';
import type { StatementAudit } from './audit-port.ts';
import { pinnedSettingDrift } from './lexing-settings.ts';
import type { StageClock } from './pipeline.ts';
import type { MaskingPort } from './results.ts';
import { Session, type StatementGate } from './session.ts';

/** Where a client database name leads: the upstream's key in the configuration and its target. */
export interface SessionRoute {
  upstream: string;
  target: UpstreamTarget;
}

/** Who a session is for and how it came: what both its request and its context carry. */
interface SessionFacts {
  identity: Identity;
  database: string;
  route: SessionRoute;
  startupParams: Map<string, string>;
  source: string;
  tls: boolean;
  /** 'wire' for PostgreSQL clients, or the name of another front end (e.g. 'mcp'). */
  via: string;
}

/** What the composition root is told of a session it builds the parts of. */
export interface SessionContext extends SessionFacts {
  /** Set when the time of each pipeline stage is measured (`--profile`); the gate records into it. */
  clock: StageClock | null;
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
  /** Called once when a per-transaction lease pins the session to one server connection. */
  pinned?(reason: string): void;
  /** The session's own clock (its trace's stages), in place of `EngineDeps.clock`, which it passes measures on to. */
  clock?: StageClock;
}

/** Open sessions, for cancel requests, revocation and shutdown. */
export interface SessionDirectory {
  /** Registers a session and mints the cancel key its client gets. */
  register(session: { identity: Identity; terminate(err: GatewayError): void; cancel(): void }): { pid: number; secret: Buffer; unregister: () => void };
}

/** What every session is opened with, from the configuration in force when it opens. */
export interface EngineDeps {
  logger: Logger;
  limits: {
    max_message_size: number;
    /** Unset: statements are capped by max_message_size only. */
    max_statement_size?: number;
  };
  expiryGraceMs: number;
  /** Client bytes held by sessions, per identity and in all (unset: no cap). */
  budget?: BufferBudget;
  budgetKey?(identity: Identity): string;
  sessionParts(ctx: SessionContext): Promise<SessionParts>;
  sessions: SessionDirectory;
  /**
   * Asked again once the session is registered: a revocation made after the token was verified
   * but before the session could be found by the directory must still end it.
   */
  isRevoked?(identity: Identity): boolean;
  clock?: StageClock | null;
  /** Told of each session that starts (for metrics). */
  opened?(via: string): void;
}

export interface OpenSessionRequest extends SessionFacts {
  /** The client's stream, authenticated: it is owed AuthenticationOk … ReadyForQuery next. */
  client: Duplex;
  /** Bytes the client sent after its password. */
  clientLeftover: Buffer | null;
  /** The server connection; the session owns it from here on (released when it ends, or here on a failure). */
  upstream: UpstreamLease;
}

export async function openSession(req: OpenSessionRequest, deps: EngineDeps): Promise<Session> {
  const { identity, upstream } = req;
  const log = deps.logger.child({ subject: identity.subject, issuer: identity.issuerName, database: req.database, source: req.source, via: req.via });
  const clock = deps.clock ?? null;
  let keys: ReturnType<SessionDirectory['register']> | null = null;
  try {
    for (const [name, value] of upstream.parameters) {
      const drift = pinnedSettingDrift(name, value);
      if (drift !== undefined) {
        log.error({ upstream: req.route.upstream, parameter: name, value }, 'the upstream did not take a pinned lexing setting; session refused');
        throw new GatewayError('upstream.unavailable', `pgwarden: ${drift}, so statements could not be read as the database reads them`);
      }
    }
    const parts = await deps.sessionParts({
      identity,
      database: req.database,
      route: req.route,
      startupParams: req.startupParams,
      source: req.source,
      tls: req.tls,
      via: req.via,
      clock,
    });
    const startedAt = Date.now();
    const session = new Session({
      client: req.client,
      upstream,
      identity,
      logger: log,
      maxMessageSize: deps.limits.max_message_size,
      maxStatementSize: deps.limits.max_statement_size,
      budget: deps.budget,
      budgetKey: deps.budgetKey?.(identity),
      expiresAt: identity.expiresAt + deps.expiryGraceMs,
      gate: parts.gate,
      masking: parts.masking,
      audit: parts.audit,
      captureRows: parts.captureRows,
      maxRows: parts.maxRows,
      clock: parts.clock ?? clock,
      onClose: (reason) => {
        keys?.unregister();
        parts.closed?.(reason);
        log.info({ reason, durationMs: Date.now() - startedAt }, 'session closed');
      },
    });
    if (upstream.onPin !== undefined) {
      upstream.onPin = (reason) => {
        log.info({ reason }, 'session pinned to its server connection');
        parts.pinned?.(reason);
      };
    }
    keys = deps.sessions.register({
      identity,
      terminate: (err) => session.terminate(err),
      cancel: () => session.cancel(() => upstream.cancel().catch((err) => log.warn({ err: (err as Error).message }, 'cancel could not reach the upstream'))),
    });
    if (deps.isRevoked?.(identity)) {
      throw new GatewayError('auth.revoked', `pgwarden: access for ${identity.subject} has been revoked`);
    }
    // The client learns the upstream's parameters, the gateway's own cancel key, and the
    // upstream's transaction status; never the upstream's pid or secret.
    const hello: Buffer[] = [AUTH_OK];
    for (const [name, value] of upstream.parameters) hello.push(encodeParameterStatus(name, value));
    hello.push(encodeBackendKeyData(keys.pid, keys.secret), encodeReadyForQuery(upstream.txStatus));
    req.client.write(Buffer.concat(hello));
    log.info({ tls: req.tls, application: req.startupParams.get('application_name') }, 'session opened');
    deps.opened?.(req.via);
    session.start(req.clientLeftover, upstream.leftover);
    return session;
  } catch (err) {
    keys?.unregister();
    upstream.release('broken');
    throw err;
  }
}
