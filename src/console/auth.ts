/**
 * Who is using the console. Sign-in is OIDC authorization code + PKCE against `console.issuer`
 * (see oidc-client.ts); its result is a session record kept in the gateway's store (subject,
 * issuer and its configured name, groups, CSRF token, expiry) and a signed cookie (HttpOnly,
 * SameSite=Lax, path /console, Secure behind https) that holds only the session's random id —
 * never a token from the IdP. Every request reads the record: signing out deletes it, and
 * `pgwarden revoke` deletes the human's records (and the revocation list is checked too), so a
 * copy of the cookie saved before either opens nothing. Roles are computed from the stored groups
 * on every request, so a config reload takes effect at once; the groups themselves are the IdP's
 * at sign-in, which is why sessions are short (`session_ttl`, 1 h by default).
 *
 * With the development issuer enabled (the demo), and only then, `POST /console/dev-login` signs
 * in as one of the roles without an IdP; every page then carries a warning.
 *
 * Every state-changing request is a POST carrying a token bound to the browser (the session's
 * CSRF token, or the sign-in cookie's for the dev login) and, when the browser sends one, an
 * Origin equal to ours.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createHash } from 'node:crypto';
import type { Identity } from '../identity/types.ts';
import type { RevocationList } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { AuditStore, StoredConsoleSession } from '../store/index.ts';
import { html } from './html.ts';
import { BASE, messagePage, renderPage, type ConsoleUser, type Frame } from './layout.ts';
import { OidcClient, SignInError, random } from './oidc-client.ts';
import { ROLES, rolesFor, type ConsoleRole } from './roles.ts';
import type { ConsoleConfig } from './schema.ts';
import { sign, verify } from './signed-cookie.ts';

export type ConsoleEnv = { Variables: { user: ConsoleUser } };

export const SESSION_COOKIE = 'pgwarden_console';
const SIGNIN_COOKIE = 'pgwarden_console_signin';
const SIGNIN_TTL_S = 10 * 60;

export interface AuthDeps {
  logger: Logger;
  config: () => ConsoleConfig;
  frame: () => Frame;
  /** The HTTP listener's URL as browsers reach it, when `public_url` is not set. */
  baseUrl: () => string;
  revocations: RevocationList;
  /** Where console sessions are kept (the gateway's audit store: durable, shared by instances). */
  sessions: Pick<AuditStore, 'consoleSession' | 'putConsoleSession' | 'deleteConsoleSession'>;
  /** The configured name of an issuer URL (`identity.issuers[].name`), so revocations by name match humans too. */
  issuerName?: (issuer: string) => string;
  /** The development issuer of the demo: enables the development login. */
  devIssuer?: { issuer: string };
  /** Sign-ins and sign-outs go to the audit log too. */
  event?: (kind: string, actor: string, details: Record<string, unknown>) => void;
  fetch?: typeof fetch;
}

/** What the cookie holds: the session's random id (the store keys its record by the id's hash). */
interface SessionPayload {
  sid: string;
  exp: number;
}

/** The store's key of a session id: a reader of the store learns nothing it could send as a cookie. */
export function sessionKey(sid: string): string {
  return createHash('sha256').update(sid).digest('base64url');
}

interface SignInPayload {
  csrf: string;
  state?: string;
  nonce?: string;
  verifier?: string;
  next?: string;
  exp: number;
}

export interface Auth {
  /** Resolves the signed-in human or answers (redirect to sign-in, or 403). */
  requireUser: MiddlewareHandler<ConsoleEnv>;
  /** The human, if the request carries a valid session (for pages open to anyone). */
  userOf(c: Context): Promise<ConsoleUser | undefined>;
  mount(app: Hono<ConsoleEnv>): void;
}

export function createAuth(deps: AuthDeps): Auth {
  const log = deps.logger;
  let client: OidcClient | undefined;
  const oidc = () => {
    const cfg = deps.config();
    if (!client?.sameAs(cfg)) client = new OidcClient(cfg, { logger: log, revocations: deps.revocations, fetch: deps.fetch });
    return client;
  };
  const publicUrl = () => (deps.config().public_url ?? deps.baseUrl()).replace(/\/+$/, '');
  const redirectUri = () => `${publicUrl()}${BASE}/callback`;
  const cookieOptions = () => ({ path: BASE, httpOnly: true, sameSite: 'Lax' as const, secure: publicUrl().startsWith('https:') });
  const secret = () => deps.config().session_secret;
  const devLogin = () => deps.devIssuer !== undefined;
  /** Only the development issuer is configured: there is no IdP to send anyone to. */
  const devOnly = () => deps.devIssuer !== undefined && deps.devIssuer.issuer.replace(/\/+$/, '') === deps.config().issuer.replace(/\/+$/, '');

  async function sessionOf(c: Context): Promise<{ sid: string; record: StoredConsoleSession } | undefined> {
    const s = verify<SessionPayload>(secret(), 'session', getCookie(c, SESSION_COOKIE));
    if (!s || typeof s.sid !== 'string' || s.sid.length < 32) return undefined;
    const record = await deps.sessions.consoleSession(sessionKey(s.sid));
    if (!record || record.expiresAt <= Date.now()) return undefined;
    return { sid: s.sid, record };
  }

  async function userOf(c: Context): Promise<ConsoleUser | undefined> {
    const found = await sessionOf(c);
    if (!found) return undefined;
    const r = found.record;
    const identity = { issuer: r.issuer, issuerName: r.issuerName, subject: r.subject, groups: r.groups, claims: {}, expiresAt: r.expiresAt } satisfies Identity;
    // The stored record is deleted on revocation; the list is checked as well, so a revocation
    // made by another instance (or one whose delete failed) still ends the session.
    if (deps.revocations.isRevoked(identity) || deps.revocations.isRevoked({ ...identity, issuerName: nameOf(r.issuer) })) return undefined;
    return { issuer: r.issuer, subject: r.subject, name: r.name, groups: r.groups, roles: rolesFor(r.groups, deps.config().roles), csrf: r.csrf, exp: Math.floor(r.expiresAt / 1000) };
  }

  const nameOf = (issuer: string) => deps.issuerName?.(issuer) ?? issuer;

  async function startSession(c: Context, who: { issuer: string; subject: string; name?: string; groups: string[] }, how: string): Promise<void> {
    const expiresAt = Date.now() + deps.config().session_ttl;
    const sid = random(32);
    const record: StoredConsoleSession = {
      id: sessionKey(sid),
      subject: who.subject,
      issuer: who.issuer,
      issuerName: nameOf(who.issuer),
      groups: who.groups.slice(0, 500),
      csrf: random(18),
      createdAt: Date.now(),
      expiresAt,
    };
    if (who.name) record.name = who.name.slice(0, 200);
    // Replacing a sign-in (a new one in the same browser) ends the one before.
    const previous = await sessionOf(c);
    if (previous) await deps.sessions.deleteConsoleSession(previous.record.id);
    await deps.sessions.putConsoleSession(record);
    const exp = Math.floor(expiresAt / 1000);
    setCookie(c, SESSION_COOKIE, sign(secret(), 'session', { sid, exp } satisfies SessionPayload), { ...cookieOptions(), expires: new Date(exp * 1000) });
    deleteCookie(c, SIGNIN_COOKIE, cookieOptions());
    const roles = [...rolesFor(who.groups, deps.config().roles)];
    log.info({ subject: who.subject, issuer: record.issuerName, roles, how }, 'console sign-in');
    deps.event?.('console_sign_in', who.subject, { issuer: who.issuer, roles, how });
  }

  function noRole(c: Context, who: { subject: string; groups: string[] }, user?: ConsoleUser): Response {
    return messagePage(c, deps.frame(), {
      title: 'No console role',
      status: 403,
      user,
      message: html`You are signed in as <strong>${who.subject}</strong>${who.groups.length ? html` (groups ${who.groups.join(', ')})` : html` (no groups)`}, but none of these groups holds a console role.`,
      extra: html`<p class="muted">An administrator can add one of your groups to <code>console.roles.auditor</code>, <code>approver</code> or <code>admin</code> in the gateway's configuration.</p>
<p><a href="${BASE}/login">Sign in as someone else</a></p>`,
    });
  }

  const requireUser: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const user = await userOf(c);
    if (!user) {
      const hadCookie = getCookie(c, SESSION_COOKIE) !== undefined;
      if (hadCookie) deleteCookie(c, SESSION_COOKIE, cookieOptions());
      if (c.req.method !== 'GET') return messagePage(c, deps.frame(), { title: 'Signed out', status: 401, message: 'Your sign-in is missing or has expired. Sign in again.' });
      const url = new URL(c.req.url);
      return c.redirect(`${BASE}/login?next=${encodeURIComponent(url.pathname + url.search)}${hadCookie ? '&expired=1' : ''}`, 303);
    }
    if (user.roles.size === 0) return noRole(c, user, user);
    c.set('user', user);
    await next();
  };

  function mount(app: Hono<ConsoleEnv>): void {
    app.get('/login', async (c) => {
      const next = safeNext(c.req.query('next'));
      const user = await userOf(c);
      if (user && user.roles.size > 0) return c.redirect(next, 303);
      const frame = deps.frame();
      const csrf = random(18);
      const pending: SignInPayload = { csrf, next, exp: now() + SIGNIN_TTL_S };
      if (devLogin()) setCookie(c, SIGNIN_COOKIE, sign(secret(), 'signin', pending), cookieOptions());
      const cfg = deps.config();
      const notice = c.req.query('expired') ? 'Your sign-in was not valid any more: sign in again.' : c.req.query('signed_out') ? 'You are signed out.' : undefined;
      const body = html`<div class="card narrow">
<h1>Sign in</h1>
${notice ? html`<p class="muted">${notice}</p>` : ''}
${devOnly()
  ? ''
  : html`<p>Sign in with your organisation's identity provider (<code>${new URL(cfg.issuer).host}</code>).</p>
<p><a class="button" href="${BASE}/login/oidc?next=${encodeURIComponent(next)}">Sign in with OpenID Connect</a></p>`}
${devLogin()
  ? html`<h2>Development sign-in</h2>
<p class="muted small">The demo's development issuer is enabled: choose a role. Each signs in as a human named after it, in the role's first group.</p>
<form method="post" action="${BASE}/dev-login" class="devlogin">
<input type="hidden" name="csrf" value="${csrf}">
${ROLES.filter((r) => cfg.roles[r].length > 0).map((r) => html`<button class="secondary" type="submit" name="role" value="${r}">${r} <span class="muted small">(${cfg.roles[r][0]})</span></button>`)}
</form>`
  : ''}
</div>`;
      return renderPage(c, frame, { title: 'Sign in', body });
    });

    app.get('/login/oidc', async (c) => {
      if (devOnly()) return c.redirect(`${BASE}/login`, 303);
      const next = safeNext(c.req.query('next'));
      try {
        const start = await oidc().start(redirectUri());
        const payload: SignInPayload = { csrf: random(18), state: start.state, nonce: start.nonce, verifier: start.verifier, next, exp: now() + SIGNIN_TTL_S };
        setCookie(c, SIGNIN_COOKIE, sign(secret(), 'signin', payload), cookieOptions());
        return c.redirect(start.url, 303);
      } catch (err) {
        return signInFailed(c, err);
      }
    });

    app.get('/callback', async (c) => {
      const pending = verify<SignInPayload>(secret(), 'signin', getCookie(c, SIGNIN_COOKIE));
      const state = c.req.query('state');
      if (!pending?.state || !pending.nonce || !pending.verifier || state !== pending.state) {
        log.info({ path: c.req.path }, 'console sign-in refused: no matching sign-in in progress');
        return messagePage(c, deps.frame(), {
          title: 'Sign-in not recognised',
          status: 400,
          message: 'This answer from the identity provider does not belong to a sign-in started in this browser (or it took longer than 10 minutes).',
          extra: html`<p><a class="button" href="${BASE}/login">Start again</a></p>`,
        });
      }
      const error = c.req.query('error');
      if (error !== undefined) {
        deleteCookie(c, SIGNIN_COOKIE, cookieOptions());
        return messagePage(c, deps.frame(), {
          title: 'Sign-in not completed',
          status: 401,
          message: `The identity provider answered: ${error.slice(0, 80)}.`,
          extra: html`<p><a class="button" href="${BASE}/login">Try again</a></p>`,
        });
      }
      const code = c.req.query('code');
      if (!code) return messagePage(c, deps.frame(), { title: 'Sign-in not completed', status: 400, message: 'The identity provider sent no authorization code.' });
      let identity: Identity;
      try {
        identity = await oidc().finish({ code, redirectUri: redirectUri(), verifier: pending.verifier, nonce: pending.nonce });
      } catch (err) {
        deleteCookie(c, SIGNIN_COOKIE, cookieOptions());
        return signInFailed(c, err);
      }
      const name = typeof identity.claims.name === 'string' ? identity.claims.name : typeof identity.claims.preferred_username === 'string' ? identity.claims.preferred_username : undefined;
      // The ID token's verifier knows the issuer by URL only; a revocation by its configured name
      // is checked here, so a revoked human is told so instead of getting a session that opens nothing.
      if (deps.revocations.isRevoked({ ...identity, issuerName: nameOf(identity.issuer) })) {
        deleteCookie(c, SIGNIN_COOKIE, cookieOptions());
        log.info({ subject: identity.subject, issuer: nameOf(identity.issuer) }, 'console sign-in refused: revoked');
        return messagePage(c, deps.frame(), { title: 'Access revoked', status: 403, message: `Access for ${identity.subject} has been revoked by an administrator.` });
      }
      if (rolesFor(identity.groups, deps.config().roles).size === 0) {
        deleteCookie(c, SIGNIN_COOKIE, cookieOptions());
        log.info({ subject: identity.subject, issuer: identity.issuerName, groups: identity.groups }, 'console sign-in refused: no console role');
        return noRole(c, identity);
      }
      await startSession(c, { issuer: identity.issuer, subject: identity.subject, name, groups: identity.groups }, 'oidc');
      return c.redirect(safeNext(pending.next), 303);
    });

    app.post('/dev-login', async (c) => {
      const dev = deps.devIssuer;
      // Without the development issuer this route does not exist at all.
      if (!dev) return notFound(c, deps.frame());
      const form = await c.req.parseBody();
      const pending = verify<SignInPayload>(secret(), 'signin', getCookie(c, SIGNIN_COOKIE));
      if (!sameOrigin(c, publicUrl()) || !pending || typeof form.csrf !== 'string' || form.csrf !== pending.csrf) return csrfRefused(c, deps.frame());
      const role = form.role;
      const cfg = deps.config();
      if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role) || cfg.roles[role as ConsoleRole].length === 0) {
        return messagePage(c, deps.frame(), { title: 'Unknown role', status: 400, message: 'Choose one of the roles offered on the sign-in page.' });
      }
      await startSession(c, { issuer: dev.issuer, subject: role, name: `${role} (development login)`, groups: [cfg.roles[role as ConsoleRole][0]] }, 'development login');
      return c.redirect(safeNext(pending.next), 303);
    });

    app.post('/logout', async (c) => {
      const found = await sessionOf(c);
      const user = await userOf(c);
      const form = await c.req.parseBody();
      if (found && (!sameOrigin(c, publicUrl()) || form.csrf !== found.record.csrf)) return csrfRefused(c, deps.frame());
      // The record goes first: every copy of the cookie (saved, stolen, in another tab) is dead.
      if (found) await deps.sessions.deleteConsoleSession(found.record.id);
      deleteCookie(c, SESSION_COOKIE, cookieOptions());
      if (user) {
        log.info({ subject: user.subject, issuer: user.issuer }, 'console sign-out');
        deps.event?.('console_sign_out', user.subject, { issuer: user.issuer });
      }
      return c.redirect(`${BASE}/login?signed_out=1`, 303);
    });
  }

  function signInFailed(c: Context, err: unknown): Response {
    if (!(err instanceof SignInError)) throw err;
    log.info({ reason: err.message }, 'console sign-in failed');
    return messagePage(c, deps.frame(), {
      title: 'Sign-in failed',
      status: err.status,
      message: err.message,
      extra: html`<p><a class="button" href="${BASE}/login">Try again</a></p>`,
    });
  }

  return { requireUser, userOf, mount };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** Where to go after signing in: a console path only, so the parameter cannot send anyone elsewhere. */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith(BASE) || /[\\\s]/.test(next)) return BASE;
  const rest = next.slice(BASE.length);
  return rest === '' || (rest.startsWith('/') && !rest.startsWith('//')) || rest.startsWith('?') ? next : BASE;
}

/**
 * A browser that sends Origin must send ours (a second check beside the CSRF token): the public
 * URL's origin, or — when that is a loopback address — a loopback name on the same port. Never
 * the request's own Host: under DNS rebinding both come from the attacker's page.
 */
function sameOrigin(c: Context, publicUrl: string): boolean {
  const origin = c.req.header('Origin');
  if (origin === undefined) return true;
  const ours = new URL(publicUrl);
  if (origin.toLowerCase() === ours.origin.toLowerCase()) return true;
  let theirs: URL;
  try {
    theirs = new URL(origin);
  } catch {
    return false;
  }
  const loopback = (h: string) => h === 'localhost' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
  return loopback(ours.hostname) && loopback(theirs.hostname) && theirs.protocol === ours.protocol && theirs.port === ours.port;
}

function csrfRefused(c: Context, frame: Frame): Response {
  return messagePage(c, frame, { title: 'Request refused', status: 403, message: 'This form was not sent from a page of this console (its anti-forgery token did not match). Reload the page and try again.' });
}

export function notFound(c: Context, frame: Frame, user?: ConsoleUser): Response {
  return messagePage(c, frame, { title: 'Not found', status: 404, user, message: `There is no console page at ${new URL(c.req.url).pathname}.` });
}
