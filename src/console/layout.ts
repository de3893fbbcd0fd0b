/**
 * The console's page frame: top bar with the sections the human may open, who is signed in and a
 * logout button (a POST with the session's CSRF token), the development-login warning, and the
 * security headers every console response carries.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { html, type SafeHtml } from './html.ts';
import type { ConsoleRole } from './roles.ts';

export interface ConsoleUser {
  issuer: string;
  subject: string;
  name?: string;
  groups: string[];
  roles: Set<ConsoleRole>;
  /** Anti-CSRF token of this sign-in: every POST form carries it. */
  csrf: string;
  /** Epoch seconds. */
  exp: number;
}

export interface NavItem {
  path: string;
  title: string;
  role: ConsoleRole;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  user?: ConsoleUser;
  /** The nav item to highlight (its path). */
  active?: string;
  status?: ContentfulStatusCode;
}

export interface Frame {
  nav: NavItem[];
  /** Development login is enabled: every page says so. */
  devLogin: boolean;
}

export const BASE = '/console';

/**
 * Content-Security-Policy: no scripts at all, styles only from our own style sheet, forms only to
 * ourselves, never framed. Everything the pages show comes from the log and is escaped; the CSP is
 * the second line should an escape ever be missed.
 */
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(c: Context): void {
  c.header('Content-Security-Policy', CSP);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('X-Frame-Options', 'DENY');
  // `same-origin`, not `no-referrer`: with no-referrer Chrome sends `Origin: null` on our own form posts.
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cache-Control', 'no-store');
}

export function renderPage(c: Context, frame: Frame, o: PageOptions): Response {
  const user = o.user;
  const nav = user ? frame.nav.filter((n) => user.roles.has(n.role)) : [];
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · pgwarden console</title>
<link rel="stylesheet" href="${BASE}/static/console.css">
</head>
<body>
<header class="top">
  <a class="brand" href="${BASE}">pgwarden console</a>
  <nav>${nav.map((n) => html`<a href="${BASE}${n.path}" class="${o.active === n.path ? 'on' : ''}">${n.title}</a>`)}</nav>
  ${user
    ? html`<div class="who"><span title="${user.issuer}">${user.name ?? user.subject}</span><span class="muted">${[...user.roles].join(', ') || 'no role'}</span>
  <form method="post" action="${BASE}/logout"><input type="hidden" name="csrf" value="${user.csrf}"><button type="submit">Log out</button></form></div>`
    : ''}
</header>
${frame.devLogin ? html`<div class="warning" role="alert">Development sign-in is enabled (pgwarden demo): anyone who can reach this page can sign in as any role. Never enable the development issuer in production.</div>` : ''}
<main>
${o.body}
</main>
</body>
</html>
`;
  securityHeaders(c);
  return c.html(doc.text, o.status ?? 200);
}

/** A page with a heading and a message, for errors and refusals. */
export function messagePage(c: Context, frame: Frame, o: { title: string; message: SafeHtml | string; user?: ConsoleUser; status: ContentfulStatusCode; extra?: SafeHtml }): Response {
  return renderPage(c, frame, {
    title: o.title,
    user: o.user,
    status: o.status,
    body: html`<div class="card narrow"><h1>${o.title}</h1><p>${o.message}</p>${o.extra}</div>`,
  });
}
