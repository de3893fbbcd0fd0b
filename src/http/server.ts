/**
 * Serving the Hono app on a Node HTTP server, with timeouts for slow clients (`HTTP_TIMEOUTS`)
 * and a cap on open connections. `close()` also ends idle keep-alive connections, which
 * `server.close()` alone would wait for, so shutdown is not held up by a browser or a pooled
 * client.
 */
import type { AddressInfo } from 'node:net';
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

/**
 * Listen on `host:port` (port 0 picks a free one), over TLS when `tls` is given; rejects if the
 * address cannot be bound.
 */
export function startHttpServer(app: Hono, host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<HttpServer> {
  const { handshakeTimeout, ...httpTimeouts } = HTTP_TIMEOUTS;
  const server = (
    tls
      ? createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions: { ...httpTimeouts, handshakeTimeout, cert: tls.cert, key: tls.key } })
      : createAdaptorServer({ fetch: app.fetch, serverOptions: httpTimeouts })
  ) as Server;
  server.maxConnections = HTTP_MAX_CONNECTIONS;
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
