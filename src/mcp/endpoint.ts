/**
 * The `/mcp` endpoint: MCP Streamable HTTP with the SDK's web-standard transport, stateful
 * sessions, and the protected resource metadata.
 *
 * request ─► bearer token (auth.ts: verify + audience) ─► 401 / 503, or an identity
 *   ─► with `Mcp-Session-Id`: the session, which MUST belong to the same identity (issuer +
 *      subject) as the one that opened it — another identity's token is refused with 403 — and
 *      then serves the request with this request's identity (a refreshed token is fine)
 *   ─► without: a POST `initialize` opens a session (its own McpServer, tools described with the
 *      identity's scope); anything else is a 400
 * Sessions end on DELETE, when their identity is revoked (`closeRevoked`, with their event
 * streams), after `idle_timeout` without a request, when their identity opens one
 * more than `max_sessions_per_identity` and this is its least recently used, idle for a quarter of
 * `idle_timeout` (at most a minute; else the new one is refused with 429), or when the gateway
 * closes.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Identity, TokenVerifier } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import { authenticate, problem, resourceMetadata, type ResourceSettings } from './auth.ts';
import { describeScope, registerTools, type ToolDeps } from './tools.ts';

export interface McpSettings extends ResourceSettings {
  /** A session with no request for this long is closed (ms). */
  idleTimeoutMs: number;
  /** Most open MCP sessions. */
  maxSessions: number;
  /** Most open MCP sessions of one identity; a new one closes its least recently used if idle a while, else is refused (429). */
  maxSessionsPerIdentity: number;
}

export interface McpEndpointDeps extends ToolDeps {
  logger: Logger;
  verifier: TokenVerifier;
  /** Read on every request, so a reload applies at once. */
  settings(): McpSettings;
  version: string;
}

export interface McpEndpoint {
  /** Routes to mount at the root of the HTTP app: `/mcp` and the metadata documents. */
  routes: Hono;
  sessions(): number;
  /**
   * Close every session (and its open streams) whose identity `revoked` says is revoked; returns
   * how many. Called on revocation: a revoked identity's requests are refused from then on, but
   * its sessions and GET event streams would otherwise stay open until idle, holding its share of
   * the caps.
   */
  closeRevoked(revoked: (identity: Identity) => boolean): number;
  close(): Promise<void>;
}

interface McpSession {
  id: string;
  owner: string;
  identity: Identity;
  lastUsed: number;
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
}

const ownerKey = (id: Identity) => `${id.issuer}\u0000${id.subject}`;

/** How long an identity's session must have been idle to make room for its new one: a quarter of idle_timeout, at most a minute. */
const idleEnough = (s: McpSettings) => Math.min(60_000, s.idleTimeoutMs / 4);

export function createMcpEndpoint(deps: McpEndpointDeps): McpEndpoint {
  const log = deps.logger.child({ part: 'mcp' });
  const sessions = new Map<string, McpSession>();
  const opening = openingSlots();
  const routes = new Hono();

  const end = async (s: McpSession, reason: string) => {
    if (!sessions.delete(s.id)) return;
    log.info({ session: s.id, subject: s.identity.subject, reason }, 'mcp session closed');
    await s.server.close().catch(() => {});
  };

  const sweep = setInterval(() => {
    const cutoff = Date.now() - deps.settings().idleTimeoutMs;
    for (const s of sessions.values()) if (s.lastUsed < cutoff) void end(s, 'idle');
  }, 30_000);
  sweep.unref();

  // RFC 9728 §3.1: the metadata of `https://gw/mcp` is at `/.well-known/oauth-protected-resource/mcp`
  // (what WWW-Authenticate names); the root path is served too for clients that look there, and
  // the configured resource's own path when a proxy puts /mcp under a prefix.
  const WELL_KNOWN = '/.well-known/oauth-protected-resource';
  routes.get(`${WELL_KNOWN}/*`, (c, next) => {
    const settings = deps.settings();
    const suffix = c.req.path.slice(WELL_KNOWN.length).replace(/\/+$/, '');
    if (suffix !== '/mcp' && suffix !== new URL(settings.resource).pathname.replace(/\/+$/, '')) return next();
    return c.json(resourceMetadata(settings));
  });
  routes.get(WELL_KNOWN, (c) => c.json(resourceMetadata(deps.settings())));

  routes.all('/mcp', async (c) => {
    const settings = deps.settings();
    const auth = await authenticate(c.req.raw, settings, deps.verifier, log);
    if ('response' in auth) return auth.response;
    const { identity, token } = auth;
    const authInfo = {
      token,
      clientId: identity.subject,
      scopes: [],
      expiresAt: Math.floor(identity.expiresAt / 1000),
      resource: new URL(settings.resource),
      extra: { subject: identity.subject, issuer: identity.issuer },
    };

    const sid = c.req.header('mcp-session-id');
    if (sid !== undefined) {
      const s = sessions.get(sid);
      if (!s) return jsonRpcError(404, -32001, 'Session not found: initialize a new session');
      if (s.owner !== ownerKey(identity)) {
        log.warn({ session: sid, subject: identity.subject, owner: s.identity.subject }, 'mcp request refused: the session belongs to another identity');
        return problem(403, 'forbidden', 'pgwarden: this MCP session belongs to another identity', 'Initialize your own session.');
      }
      s.identity = identity;
      s.lastUsed = Date.now();
      return s.transport.handleRequest(c.req.raw, { authInfo });
    }

    if (c.req.method !== 'POST') return jsonRpcError(400, -32000, 'Bad Request: no Mcp-Session-Id header; initialize a session with POST first');
    // The caps count the sessions still initializing too: the slot is taken here, in the same
    // synchronous step as the check (no await in between), and given back if no session opens.
    // A check against the open sessions alone lets every initialize that reads its body
    // meanwhile pass it, and one identity could open any number at once.
    if (sessions.size + opening.total >= settings.maxSessions) return problem(503, 'too_many_sessions', 'pgwarden: too many open MCP sessions', 'Close idle sessions or try again later.');
    const owner = ownerKey(identity);
    // One identity's share of the sessions: at it, its least recently used session goes if it
    // has been idle a while (a client that never sends DELETE crowds out only itself); if every
    // one of them is in use, the new one is refused.
    const own = [...sessions.values()].filter((s) => s.owner === owner);
    const ownCount = own.length + (opening.of.get(owner) ?? 0);
    let evicted: McpSession | undefined;
    if (ownCount >= settings.maxSessionsPerIdentity) {
      const oldest = own.length ? own.reduce((a, b) => (a.lastUsed <= b.lastUsed ? a : b)) : undefined;
      if (!oldest || Date.now() - oldest.lastUsed < idleEnough(settings)) {
        return problem(
          429,
          'too_many_sessions',
          `pgwarden: ${identity.subject} has ${ownCount} MCP sessions in use (mcp.max_sessions_per_identity)`,
          'Close the sessions you no longer use (DELETE /mcp), or try again shortly.',
        );
      }
      evicted = oldest;
    }
    const release = opening.reserve(owner);
    try {
      // `end` takes the session out of the map at once, before its first await.
      if (evicted) await end(evicted, 'its identity opened a session beyond mcp.max_sessions_per_identity, and this one was the least recently used');

      const session: McpSession = {
        id: '',
        owner,
        identity,
        lastUsed: Date.now(),
        transport: new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            session.id = id;
            // The reserved slot becomes the session, in one step.
            release();
            sessions.set(id, session);
            log.info({ session: id, subject: identity.subject, issuer: identity.issuerName }, 'mcp session opened');
          },
          onsessionclosed: (id) => {
            const s = sessions.get(id);
            if (s) void end(s, 'closed by the client');
          },
        }),
        server: new McpServer({ name: 'pgwarden', version: deps.version }, { instructions: describeScope(deps, identity) }),
      };
      session.transport.onclose = () => void end(session, 'transport closed');
      registerTools(session.server, deps, { identity: () => session.identity, sessionId: () => session.id });
      await session.server.connect(session.transport);
      const response = await session.transport.handleRequest(c.req.raw, { authInfo });
      // Not an initialize request (or a failed one): nothing was opened.
      if (!session.id) await session.server.close().catch(() => {});
      return response;
    } finally {
      release();
    }
  });

  return {
    routes,
    sessions: () => sessions.size,
    closeRevoked(revoked) {
      const gone = [...sessions.values()].filter((s) => revoked(s.identity));
      for (const s of gone) void end(s, 'its identity was revoked');
      return gone.length;
    },
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => end(s, 'gateway shutting down')));
    },
  };
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
}

/**
 * Slots taken by initialize requests not yet answered, in total and per identity: `reserve`
 * takes one and returns its release, which gives it back once (later calls do nothing).
 */
function openingSlots(): { total: number; of: Map<string, number>; reserve(owner: string): () => void } {
  const slots = {
    total: 0,
    of: new Map<string, number>(),
    reserve(owner: string): () => void {
      slots.total++;
      slots.of.set(owner, (slots.of.get(owner) ?? 0) + 1);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        slots.total--;
        const left = (slots.of.get(owner) ?? 1) - 1;
        if (left > 0) slots.of.set(owner, left);
        else slots.of.delete(owner);
      };
    },
  };
  return slots;
}
