/**
 * The startup phase of one client connection, up to the moment its session can start:
 *
 *   SSLRequest → 'S' and TLS (or 'N'), GSSENCRequest → 'N', CancelRequest → forwarded by key,
 *   StartupMessage → database routed to an upstream, startup settings checked,
 *   AuthenticationCleartextPassword → PasswordMessage holds the JWT → verified identity,
 *   per-identity and per-upstream limits → upstream connection signed in with held credentials,
 *   with the lexing settings pinned.
 *
 * Every failure is a GatewayError the caller sends as a FATAL ErrorResponse. The token is read
 * once, verified, and dropped: it MUST NOT be logged or kept.
 */
import tls from 'node:tls';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { Identity, TokenVerifier } from '../identity/types.ts';
import {
  AUTH_CLEARTEXT,
  FE,
  MAX_AUTH_PACKET,
  MAX_STARTUP_PACKET,
  ProtocolError,
  decodePassword,
  decodeStartupPacket,
  encodeNegotiateProtocolVersion,
} from '../protocol/index.ts';
import type { UpstreamLease, UpstreamTarget } from '../upstream/index.ts';
import { PINNED_UPSTREAM_SETTINGS } from '../engine/index.ts';
import { looksLikeToken, quotedValue } from './quoted-value.ts';
import { SocketReader } from './socket-reader.ts';
import { parseTimeoutMs } from '../policy/settings.ts';
import { startupSetting, upstreamStartupParams } from './startup-params.ts';

export interface Route {
  /** The upstream's key in the configuration. */
  upstream: string;
  target: UpstreamTarget;
}

/**
 * An identity's admission to a database: the upstream settings its scope imposes, and the
 * search_path a new upstream session gets by default (see `pinSearchPath`); or why it has none.
 */
export type Authorization =
  | {
      upstreamSettings: Record<string, string>;
      searchPath?: string;
      /** The scope's limit of statement_timeout, which `upstreamSettings` sets (see keepLowerTimeout). */
      statementTimeoutMs?: number;
    }
  | { refusal: string };

/**
 * A client's startup statement_timeout (a parameter or `-c` in options) under a scope that
 * limits it: a lower value is the session's, as a `SET` to it would be allowed; zero, a higher
 * value or one the gateway cannot read leaves the limit in place.
 */
function keepLowerTimeout(params: Map<string, string>, upstreamParams: Record<string, string>, limit: number | undefined): void {
  const asked = startupSetting(params, 'statement_timeout');
  if (limit === undefined || asked === undefined) return;
  const ms = parseTimeoutMs(asked);
  if (ms !== undefined && ms > 0 && ms < limit) upstreamParams.statement_timeout = `${ms}ms`;
}

/**
 * A session whose client gave no search_path starts with the upstream's default named as a
 * startup setting, as if the client had given it: the gateway analyses the session's statements
 * under that path, and a default stored later (ALTER ROLE or ALTER DATABASE … SET search_path,
 * through the gateway or not) cannot change the server's path for the session behind its back.
 * A startup setting is also what RESET and DISCARD ALL go back to, as the default would be.
 */
export function pinSearchPath(params: Map<string, string>, upstreamParams: Record<string, string>, searchPath: string | undefined): void {
  if (searchPath === undefined || startupSetting(params, 'search_path') !== undefined) return;
  params.set('search_path', searchPath);
  upstreamParams.search_path = searchPath;
}

export interface HandshakeDeps {
  verifier: TokenVerifier;
  tlsContext: tls.SecureContext | null;
  requireTls: boolean;
  route(database: string): Route | undefined;
  /** A CancelRequest; what it returns settles once the cancel has reached the server. */
  cancel(pid: number, secret: Buffer): Promise<void> | void;
  /**
   * Count the identity's session on the route's upstream and open its upstream lease with
   * `startupParams`; rejects with conn.too_many (53300) over the identity's or the upstream's
   * limit, or with upstream.unavailable / upstream.auth_failed (08006).
   */
  lease(identity: Identity, route: Route, startupParams: Record<string, string>): Promise<UpstreamLease>;
  /**
   * The identity's scope on this database: the upstream settings its limits impose (read-only,
   * role, statement_timeout), or why it has none (FATAL 28000).
   */
  authorize(identity: Identity, database: string): Authorization;
  /** Startup user names accepted for every identity besides its own subject (see `checkUserName`). */
  userNames: readonly string[];
  /** Set as soon as the handshake has a socket to answer on (TLS replaces the raw one). */
  onSocket(socket: Duplex): void;
}

export type HandshakeResult =
  | { kind: 'cancel'; delivered?: Promise<void> }
  | {
      kind: 'session';
      socket: Duplex;
      tls: boolean;
      params: Map<string, string>;
      database: string;
      identity: Identity;
      route: Route;
      /** The server connection (its release frees the identity's and the upstream's count). */
      upstream: UpstreamLease;
      /** Bytes the client sent after its password. */
      leftover: Buffer | null;
    };

const NO = Buffer.from('N');
const YES = Buffer.from('S');

function startTls(raw: net.Socket, context: tls.SecureContext): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    const onError = (err: Error) => reject(new GatewayError('protocol.violation', 'pgwarden: TLS handshake failed', { cause: err }));
    t.once('secure', () => {
      t.off('error', onError);
      resolve(t);
    });
    t.once('error', onError);
  });
}

/**
 * The startup packet's `user` must name the identity the token proves: its subject, or one of the
 * configured generic names (`identity.user_names`, default `agent`). It does not choose the
 * upstream role (the policy does); it is checked so that a client configured for one identity
 * and holding another's token is told so, as PostgreSQL refuses a role the password is not for.
 */
export function checkUserName(user: string, identity: Identity, accepted: readonly string[]): void {
  if (user === identity.subject || accepted.includes(user)) return;
  const names = [identity.subject, ...accepted].map((n) => `"${n}"`).join(' or ');
  // A token in the user field is quoted only as its first characters and length (quoted-value.ts).
  const misplaced = looksLikeToken(user) ? ' The token goes in the password, never in the user name.' : '';
  throw new GatewayError(
    'auth.wrong_user',
    user === '' ? 'pgwarden: no user name was given in the startup packet' : `pgwarden: the token is for "${identity.subject}", not for user "${quotedValue(user)}"`,
    { hint: `Connect as user ${names}; the identity comes from the token.${misplaced}` },
  );
}

export async function handshake(raw: net.Socket, deps: HandshakeDeps): Promise<HandshakeResult> {
  let socket: Duplex = raw;
  let reader = new SocketReader(raw);
  let secured = false;
  let gssAnswered = false;
  let startup: { params: Map<string, string>; minor: number } | null = null;
  while (!startup) {
    const packet = decodeStartupPacket(await reader.startupPacket(MAX_STARTUP_PACKET));
    switch (packet.kind) {
      case 'ssl':
        if (secured) throw new ProtocolError('SSLRequest after TLS was established');
        // Bytes sent after SSLRequest but before the TLS handshake would be read as if they came
        // over TLS (CVE-2021-23214): refuse them.
        if (reader.pendingBytes > 0) throw new ProtocolError('unexpected data after SSLRequest');
        if (!deps.tlsContext) {
          raw.write(NO);
          continue;
        }
        reader.detach();
        raw.write(YES);
        socket = await startTls(raw, deps.tlsContext);
        deps.onSocket(socket);
        reader = new SocketReader(socket);
        secured = true;
        continue;
      case 'gssenc':
        if (gssAnswered) throw new ProtocolError('repeated GSSENCRequest');
        gssAnswered = true;
        socket.write(NO);
        continue;
      case 'cancel':
        reader.detach();
        return { kind: 'cancel', delivered: deps.cancel(packet.pid, packet.secret) ?? undefined };
      case 'startup':
        startup = { params: packet.params, minor: packet.minor };
    }
  }
  const { params } = startup;
  if (deps.requireTls && !secured) {
    throw new GatewayError('conn.tls_required', 'pgwarden: this gateway accepts only TLS connections, because tokens travel as passwords');
  }
  // Protocol 3.x minor versions and `_pq_.` options the gateway does not speak: say so, as
  // PostgreSQL does, and go on with 3.0.
  const unrecognized = [...params.keys()].filter((k) => k.startsWith('_pq_.'));
  if (startup.minor > 0 || unrecognized.length > 0) socket.write(encodeNegotiateProtocolVersion(0, unrecognized));

  const database = params.get('database') || params.get('user') || '';
  const route = deps.route(database);
  // PostgreSQL's default database is the user name, which may be a misplaced token: never quoted whole.
  if (!route) throw new GatewayError('conn.unknown_database', `pgwarden: database "${quotedValue(database)}" is not served by this gateway`);
  const upstreamParams = upstreamStartupParams(params);

  socket.write(AUTH_CLEARTEXT);
  const { tag, frame } = await reader.message(MAX_AUTH_PACKET);
  if (tag !== FE.Password) throw new ProtocolError(`expected a password message, got message type '${String.fromCharCode(tag)}'`);
  const token = decodePassword(frame);
  frame.fill(0);
  if (!token) throw new GatewayError('auth.missing_token', 'pgwarden: no token was sent as the password');
  const identity = await deps.verifier.verify(token);
  checkUserName(params.get('user') ?? '', identity, deps.userNames);
  const scope = deps.authorize(identity, database);
  if ('refusal' in scope) throw new GatewayError('auth.no_scope', scope.refusal);
  // The scope's settings win over the client's: they are the session defaults, so RESET returns
  // to them, and the statements that could change them are refused by the policy. The pinned
  // lexing settings win over both.
  Object.assign(upstreamParams, scope.upstreamSettings, PINNED_UPSTREAM_SETTINGS);
  keepLowerTimeout(params, upstreamParams, scope.statementTimeoutMs);
  pinSearchPath(params, upstreamParams, scope.searchPath);
  const upstream = await deps.lease(identity, route, upstreamParams);
  const leftover = reader.detach();
  return { kind: 'session', socket, tls: secured, params, database, identity, route, upstream, leftover };
}
