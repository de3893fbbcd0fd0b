/**
 * An in-memory pair of connected Duplex streams: what one end writes, the other reads. Front ends
 * that are not sockets (the MCP endpoint) speak the PostgreSQL protocol to a session through one,
 * so they go through exactly the same pipeline as a wire client.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  private wantMore = true;
  private pendingWrite: (() => void) | null = null;

  override _read(): void {
    this.wantMore = true;
    const cb = this.peer.pendingWrite;
    this.peer.pendingWrite = null;
    cb?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    const more = peer.push(chunk);
    if (more && peer.wantMore) cb();
    else {
      peer.wantMore = false;
      this.pendingWrite = () => cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.destroy();
    cb(err);
  }
}

export function channelPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
