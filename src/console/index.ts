/**
 * Console: the web app for humans on the HTTP listener, under `/console`.
 *
 * Data flow: browser → security headers → (static style sheet | sign-in routes) → session cookie
 * → roles from groups (config read per request) → page → audit store reads (search, outcomes,
 * replay) → server-rendered, escaped HTML. No scripts; every change of state is a POST with a
 * CSRF token. Auditors list and filter sessions, read a session's statements and replay it.
 *
 * Other parts add pages as `ConsoleSection`s (the review workflow's approvals): each is mounted
 * under its path behind the sign-in and its role, appears in the navigation of those who hold the
 * role, and renders through the `ConsoleKit` so it shares the frame, headers and CSRF check.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { RevocationList } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { AuditStore } from '../store/index.ts';
import { createAuth, notFound, type ConsoleEnv } from './auth.ts';
import { html } from './html.ts';
import { BASE, messagePage, renderPage, securityHeaders, type Frame, type NavItem, type PageOptions } from './layout.ts';
import type { ConsoleRole } from './roles.ts';
import type { ConsoleConfig } from './schema.ts';
import { replayPage, sessionPage } from './session-page.ts';
import { sessionsPage } from './sessions-page.ts';
import { CONSOLE_CSS } from './style.ts';

export { consoleSchema, type ConsoleConfig } from './schema.ts';
export { rolesFor, type ConsoleRole } from './roles.ts';
export { html, raw, escapeHtml, visibleText, SafeHtml } from './html.ts';
export type { ConsoleEnv } from './auth.ts';
export type { ConsoleUser } from './layout.ts';
export { highlightSql, tokenizeSql, type SqlToken, type SqlTokenKind } from './sql-highlight.ts';
export { groupTags, timeCell, utc } from './view-parts.ts';

export interface ConsoleKit {
  /** A full page in the console's frame for the signed-in human. */
  page(c: Context<ConsoleEnv>, o: Omit<PageOptions, 'user'>): Response;
  /** A short message page (errors, confirmations). */
  message(c: Context<ConsoleEnv>, o: { title: string; message: string; status: 200 | 400 | 403 | 404 | 409 | 500 | 503 }): Response;
  /** Whether a POSTed form's `csrf` field is the signed-in human's token. Check before any change. */
  csrfOk(c: Context<ConsoleEnv>, token: unknown): boolean;
}

export interface ConsoleSection {
  /** Under /console, e.g. `/reviews`. */
  path: `/${string}`;
  title: string;
  /** Who may open it (admin implies the other roles). */
  role: ConsoleRole;
  /** Add the section's routes to `app`, which is already behind the sign-in and the role. */
  mount(app: Hono<ConsoleEnv>, kit: ConsoleKit): void;
}

export interface ConsoleDeps {
  logger: Logger;
  /** Read on every request; undefined: the console is not configured. */
  config: () => ConsoleConfig | undefined;
  store: AuditStore;
  /** The HTTP listener's URL as browsers reach it (when `console.public_url` is not set). */
  baseUrl: () => string;
  revocations: RevocationList;
  /** The configured name of an issuer URL, so `revoke --issuer NAME` matches humans of that issuer. */
  issuerName?: (issuer: string) => string;
  /** The demo's development issuer: its presence, and only that, enables the development login. */
  devIssuer?: { issuer: string };
  /** Console sign-ins and sign-outs, for the audit log. */
  event?: (kind: string, actor: string, details: Record<string, unknown>) => void;
  sections?: ConsoleSection[];
  fetch?: typeof fetch;
}

/** The largest request body the console reads (its forms are a few short fields). */
const MAX_FORM_BODY = 64 * 1024;

const AUDIT_NAV: NavItem = { path: '/sessions', title: 'Sessions', role: 'auditor' };

/** The console app, to be mounted at `/console`. */
export function createConsole(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const log = deps.logger.child({ part: 'console' });
  const sections = deps.sections ?? [];
  const frame = (): Frame => ({ nav: [AUDIT_NAV, ...sections.map(({ path, title, role }) => ({ path, title, role }))], devLogin: deps.devIssuer !== undefined });
  const config = () => {
    const c = deps.config();
    if (!c) throw new Error('console used without configuration');
    return c;
  };
  const auth = createAuth({ logger: log, config, frame, baseUrl: deps.baseUrl, revocations: deps.revocations, sessions: deps.store, issuerName: deps.issuerName, devIssuer: deps.devIssuer, event: deps.event, fetch: deps.fetch });
  const app = new Hono<ConsoleEnv>();

  app.get('/static/console.css', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    c.header('X-Content-Type-Options', 'nosniff');
    return c.body(CONSOLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });
  app.use('*', async (c, next) => {
    // `/console/` is not `/console` to the router: send it to the one the home page answers.
    if (c.req.path === `${BASE}/`) return c.redirect(BASE, 303);
    if (deps.config()) return next();
    return messagePage(c, { nav: [], devLogin: false }, {
      title: 'Console not configured',
      status: 404,
      message: html`This gateway has no <code>console:</code> section in its configuration, so the console is off.`,
    });
  });

  // Every form the console takes is a few fields (a CSRF token, a role, a comment); a body is
  // read only up to this, before anything else looks at it. Without it, POST /console/logout,
  // which answers anyone, would buffer whatever an unauthenticated client sends.
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_FORM_BODY,
      onError: (c) => {
        securityHeaders(c);
        return messagePage(c, frame(), { title: 'Request too large', status: 413, message: `A console form is at most ${MAX_FORM_BODY} bytes.` });
      },
    }),
  );

  auth.mount(app);

  const guarded = new Hono<ConsoleEnv>();
  guarded.use('*', auth.requireUser);
  const role = (r: ConsoleRole) =>
    async (c: Context<ConsoleEnv>, next: () => Promise<void>) => {
      const user = c.get('user');
      if (user.roles.has(r)) return next();
      return messagePage(c, frame(), { title: 'Not allowed', status: 403, user, message: `This page is for the ${r} role; you hold ${[...user.roles].join(', ')}.` });
    };

  guarded.get('/', (c) => {
    const user = c.get('user');
    const first = frame().nav.find((n) => user.roles.has(n.role));
    if (first) return c.redirect(`${BASE}${first.path}`, 303);
    return messagePage(c, frame(), { title: 'Nothing to show yet', status: 200, user, message: `You are signed in with the ${[...user.roles].join(', ')} role, and none of the console's pages is for it on this gateway.` });
  });
  guarded.use('/sessions', role('auditor'));
  guarded.use('/sessions/*', role('auditor'));
  guarded.get('/sessions', (c) => sessionsPage(c, deps.store, frame()));
  guarded.get('/sessions/:id', (c) => sessionPage(c, deps.store, frame()));
  guarded.get('/sessions/:id/replay', (c) => replayPage(c, deps.store, frame()));

  const kit: ConsoleKit = {
    page: (c, o) => renderPage(c, frame(), { ...o, user: c.get('user') }),
    message: (c, o) => messagePage(c, frame(), { ...o, user: c.get('user') }),
    csrfOk: (c, token) => typeof token === 'string' && token === c.get('user').csrf,
  };
  for (const s of sections) {
    const sub = new Hono<ConsoleEnv>();
    sub.use('*', role(s.role));
    s.mount(sub, kit);
    guarded.route(s.path, sub);
  }
  guarded.all('*', (c) => notFound(c, frame(), c.get('user')));

  app.route('/', guarded);
  app.onError((err, c) => {
    log.error({ err, method: c.req.method, path: c.req.path }, 'console request failed');
    securityHeaders(c);
    return messagePage(c, frame(), { title: 'Something went wrong', status: 500, message: 'The console could not answer this request; the gateway log has the details.' });
  });
  return app;
}

