/** Ports and waiting: a free loopback port, a port check with a message naming the flag, deadlines. */
import net from 'node:net';

/** A port nothing listens on right now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Fail early, before any slow setup, when `port` cannot be listened on; the message names the
 * command-line flag that changes it.
 */
export function assertPortFree(host: string, port: number, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (err: NodeJS.ErrnoException) => reject(portError(err, host, port, flag)));
    s.listen(port, host, () => s.close(() => resolve()));
  });
}

export function portError(err: NodeJS.ErrnoException, host: string, port: number, flag: string): Error {
  if (err.code === 'EADDRINUSE') return new Error(`${host}:${port} is already in use (another gateway or database?): pass ${flag} with a free port`, { cause: err });
  if (err.code === 'EACCES') return new Error(`not allowed to listen on ${host}:${port}: pass ${flag} with a port above 1023`, { cause: err });
  return err;
}

/** Poll `check` until it returns true, or fail after `timeoutMs` naming what was awaited. */
export async function waitUntil(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
