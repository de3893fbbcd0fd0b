/**
 * Serving the Hono app on a Node HTTP server, with timeouts for slow clients (`HTTP_TIMEOUTS`)
 * and caps on open connections, in all and per source address. `close()` also ends idle keep-alive connections, which
 * `server.close()` alone would wait for, so shutdown is not held up by a browser or a pooled
 * client.
 */
import type { AddressInfo, Socket } from 'node:net';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

export interface HttpServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * How long a client may take, so that connections that send slowly or not at all do not pile up
 * (Node's defaults are 60 s for the headers, 300 s for a request and 120 s for a TLS handshake,
 * checked every 30 s). A response may last as long as it needs (an MCP event stream).
 */
export const HTTP_TIMEOUTS = {
  /** The request line and headers, from the connection or from the end of the previous request. */
  headersTimeout: 10_000,
  /** The whole request, body included (bodies are small and capped). */
  requestTimeout: 30_000,
  /** An idle keep-alive connection. */
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
  /** TLS only: the handshake. */
  handshakeTimeout: 10_000,
};
/** Most open connections on one HTTP listener; beyond it a new connection is closed at once. */
export const HTTP_MAX_CONNECTIONS = 2048;
/** `limits.max_http_connections_per_source` when the caller gives none. */
export const HTTP_MAX_CONNECTIONS_PER_SOURCE = 64;

export interface HttpServerOptions {
  /**
   * Most open connections from one source address, read for each new connection (so a reload
   * applies to the next one). Default HTTP_MAX_CONNECTIONS_PER_SOURCE.
   */
  maxConnectionsPerSource?: () => number;
}

/**
 * Listen on `host:port` (port 0 picks a free one), over TLS when `tls` is given; rejects if the
 * address cannot be bound.
 */
export function startHttpServer(app: Hono, host: string, port: number, tls?: { cert: Buffer; key: Buffer }, options: HttpServerOptions = {}): Promise<HttpServer> {
  const { handshakeTimeout, ...httpTimeouts } = HTTP_TIMEOUTS;
  const server = (
    tls
      ? createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions: { ...httpTimeouts, handshakeTimeout, cert: tls.cert, key: tls.key } })
      : createAdaptorServer({ fetch: app.fetch, serverOptions: httpTimeouts })
  ) as Server;
  server.maxConnections = HTTP_MAX_CONNECTIONS;
  limitPerSource(server, options.maxConnectionsPerSource ?? (() => HTTP_MAX_CONNECTIONS_PER_SOURCE), tls !== undefined);
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      resolve({ host: addr.address, port: addr.port, close: () => closeServer(server) });
    });
  });
}

/**
 * Count each source address's open connections, and end one over its limit at once: with only
 * the listener's total cap, one client holding keep-alive connections (each busy often enough
 * never to be idle for keepAliveTimeout) takes every slot, and nobody else is served. Over plain
 * HTTP the refused connection gets a `429` (the bytes go before the request is read, which HTTP/1.1
 * clients accept); over TLS nothing can be said before the handshake, so it is closed.
 */
function limitPerSource(server: Server, limit: () => number, tls: boolean): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const source = socket.remoteAddress ?? '';
    const count = (open.get(source) ?? 0) + 1;
    if (count > limit()) {
      if (tls) socket.destroy();
      else socket.end(TOO_MANY_FROM_SOURCE);
      return;
    }
    open.set(source, count);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left > 0) open.set(source, left);
      else open.delete(source);
    });
  });
}

const TOO_MANY_BODY = JSON.stringify({
  error: 'too_many_connections',
  message: 'too many open connections from this address (limits.max_http_connections_per_source)',
  hint: 'Close idle connections, or reuse fewer of them.',
});
const TOO_MANY_FROM_SOURCE = [
  'HTTP/1.1 429 Too Many Requests',
  'Content-Type: application/json',
  `Content-Length: ${Buffer.byteLength(TOO_MANY_BODY)}`,
  'Retry-After: 1',
  'Connection: close',
  '',
  TOO_MANY_BODY,
].join('\r\n');

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests still in flight get a moment to finish before their sockets are ended.
    const force = setTimeout(() => server.closeAllConnections(), 1000);
    force.unref();
    server.once('close', () => clearTimeout(force));
  });
}
