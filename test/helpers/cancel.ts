/** A CancelRequest as a client sends it: a connection of its own, closed by the receiver. */
import net from 'node:net';
import { encodeCancelRequest } from '../../src/protocol/index.ts';

/** Send a CancelRequest for (pid, secret) to 127.0.0.1:`port`; resolves once the receiver closed it. */
export function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return new Promise((resolve) => {
    const key = Buffer.alloc(4);
    key.writeInt32BE(secret);
    const s = net.connect(port, '127.0.0.1', () => s.end(encodeCancelRequest(pid, key)));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}
