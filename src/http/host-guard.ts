/**
 * Host and Origin checks for every HTTP surface (console, admin API, reviews API, `/mcp`,
 * development issuer), against DNS rebinding and cross-site requests.
 *
 * DNS rebinding: a page on `attacker.example` makes its name resolve to 127.0.0.1, then its
 * scripts talk to the gateway as a same-origin site. The browser still sends `Host:
 * attacker.example:PORT` and `Origin: http://attacker.example:PORT`, so a request MUST be refused
 * unless its Host is one of the names the gateway is reached by — the listen address, the loopback
 * names on the listen port, the configured public URLs and `listen.http_hosts` — and unless its
 * Origin, when present, is one of the gateway's own origins. Comparing Origin with the request's
 * own Host (what a naive check does) proves nothing: both come from the attacker's page.
 *
 * `/healthz` and `/readyz` are exempt: probes (Kubernetes sends the pod IP as Host) need them and
 * they reveal nothing.
 */
import type { MiddlewareHandler } from 'hono';
import { HttpProblem, sendProblem } from './problem.ts';

export interface AllowedHosts {
  /** Lower-case `host[:port]` authorities a request's Host header may carry. */
  hosts: ReadonlySet<string>;
  /** Lower-case origins (`scheme://host[:port]`) a request's Origin header may carry. */
  origins: ReadonlySet<string>;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

function bracket(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host[:port]` as a URL's `host` field has it (default ports dropped, lower case). */
function authority(scheme: string, hostPort: string): string | null {
  try {
    return new URL(`${scheme}://${hostPort}`).host.toLowerCase();
  } catch {
    return null;
  }
}

export interface AllowedHostsInput {
  /** The address the listener is bound to (as `server.address()` reports it). */
  listenHost: string;
  listenPort: number;
  /** The listener's own scheme (https with listen.http_tls). */
  scheme?: 'http' | 'https';
  /** URLs users and clients reach the gateway by (console.public_url, mcp.resource, …). */
  publicUrls: string[];
  /** More `host[:port]` names (`listen.http_hosts`), e.g. behind a proxy or a load balancer. */
  extraHosts: string[];
}

export function allowedHosts(o: AllowedHostsInput): AllowedHosts {
  const hosts = new Set<string>();
  const origins = new Set<string>();
  const add = (scheme: string, hostPort: string) => {
    const a = authority(scheme, hostPort);
    if (!a) return;
    hosts.add(a);
    origins.add(`${scheme}://${a}`);
  };
  const scheme = o.scheme ?? 'http';
  const listen = bracket(o.listenHost.toLowerCase());
  if (!WILDCARD.has(o.listenHost)) add(scheme, `${listen}:${o.listenPort}`);
  for (const name of LOOPBACK_NAMES) add(scheme, `${name}:${o.listenPort}`);
  for (const u of o.publicUrls) {
    try {
      const url = new URL(u);
      add(url.protocol.replace(/:$/, ''), url.host);
    } catch {
      // The config schema validated the URL; an unparseable one adds nothing.
    }
  }
  for (const h of o.extraHosts) {
    add('http', h);
    add('https', h);
  }
  return { hosts, origins };
}

const EXEMPT = new Set(['/healthz', '/readyz']);

/** Refuses requests whose Host or Origin is not the gateway's own (421 / 403 problems). */
export function hostGuard(allowed: () => AllowedHosts): MiddlewareHandler {
  return async (c, next) => {
    if (EXEMPT.has(c.req.path)) return next();
    const a = allowed();
    const host = (c.req.header('Host') ?? '').toLowerCase();
    if (!a.hosts.has(host)) {
      return sendProblem(
        c,
        new HttpProblem(421, 'unknown_host', 'this gateway does not answer to that host name', {
          hint: 'Use the address the gateway is configured with, or list the name in listen.http_hosts.',
        }),
      );
    }
    const origin = c.req.header('Origin');
    if (origin !== undefined && !a.origins.has(origin.toLowerCase())) {
      return sendProblem(c, new HttpProblem(403, 'cross_origin', 'cross-origin requests are not accepted'));
    }
    return next();
  };
}
