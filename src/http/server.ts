/**
 * Serving the Hono app on a Node HTTP server. `close()` also ends idle keep-alive connections,
 * which `server.close()` alone would wait for, so shutdown is not held up by a browser or a
 * pooled client.
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
 * Listen on `host:port` (port 0 picks a free one), over TLS when `tls` is given; rejects if the
 * address cannot be bound.
 */
export function startHttpServer(app: Hono, host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<HttpServer> {
  const server = (tls ? createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } }) : createAdaptorServer({ fetch: app.fetch })) as Server;
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
