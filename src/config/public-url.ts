/**
 * The URL the MCP endpoint is reached by — its OAuth resource identifier (RFC 8707), the
 * `resource` of its protected resource metadata (RFC 9728) and, by default, the audience its
 * tokens carry. It MUST be an address clients use, never the wildcard the listener binds
 * (`http://0.0.0.0:8080/mcp` names no server): a client compares it with the URL it connected to,
 * and an IdP mints tokens for it.
 *
 * In order: `mcp.resource`; `<console.public_url's origin>/mcp`; `<scheme>://<first of
 * listen.http_hosts>/mcp`; the listen address when it is not a wildcard. Otherwise there is none,
 * and the gateway refuses to start with the MCP endpoint on (see checks.ts).
 */

export interface PublicUrlInput {
  mcpResource?: string;
  consolePublicUrl?: string;
  httpHosts: readonly string[];
  /** The listen address as configured (`host:port`, `[v6]:port`), or as bound. */
  listenHost: string;
  listenPort: number;
  scheme: 'http' | 'https';
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

export function isWildcardHost(host: string): boolean {
  return WILDCARDS.has(host);
}

export function mcpResourceUrl(o: PublicUrlInput): string | undefined {
  if (o.mcpResource !== undefined) return o.mcpResource;
  if (o.consolePublicUrl !== undefined) {
    try {
      return `${new URL(o.consolePublicUrl).origin}/mcp`;
    } catch {
      // The schema validated it; an unparseable one is skipped.
    }
  }
  const first = o.httpHosts[0];
  if (first !== undefined) return `${o.scheme}://${first}/mcp`;
  if (isWildcardHost(o.listenHost)) return undefined;
  const host = o.listenHost.includes(':') && !o.listenHost.startsWith('[') ? `[${o.listenHost}]` : o.listenHost;
  return `${o.scheme}://${host}:${o.listenPort}/mcp`;
}
