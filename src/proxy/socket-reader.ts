/**
 * Promise-style reads of whole startup-phase packets and tagged messages from a socket, used only
 * during the handshake (the session afterwards is event-driven). The socket is paused whenever no
 * read is waiting, so bytes a client sends early (pipelined startup + password, or its first
 * queries) are never lost: `detach()` hands them over to whoever reads next.
 *
 * Every length is checked against its cap before more bytes are awaited, so a client claiming a
 * huge packet is refused at the header.
 */
import type { Duplex } from 'node:stream';
import { MessageTooLargeError, ProtocolError } from '../protocol/index.ts';

export class SocketClosedError extends Error {
  constructor() {
    super('the client closed the connection during the handshake');
  }
}

/**
 * A startup packet whose length is impossible (under 8 bytes, or over the cap): PostgreSQL logs
 * "invalid length of startup packet" and closes without a reply, and so does the gateway — a
 * client that sent garbage or a Terminate before its startup packet must not get an ErrorResponse
 * it cannot expect.
 */
export class StartupLengthError extends ProtocolError {
  constructor(readonly length: number) {
    super(`invalid length of startup packet (${length} bytes)`);
  }
}

export class SocketReader {
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.socket.pause();
    this.signal();
  };
  private readonly onEnd = () => {
    this.closed = true;
    this.signal();
  };

  constructor(readonly socket: Duplex) {
    socket.pause();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Wait until at least `n` bytes are buffered. */
  private async need(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.closed) throw new SocketClosedError();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.socket.resume();
      });
    }
  }

  private take(n: number): Buffer {
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next untagged startup-phase packet (length prefix included), capped at `max` bytes. */
  async startupPacket(max: number): Promise<Buffer> {
    await this.need(4);
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > max) throw new StartupLengthError(len);
    await this.need(len);
    return this.take(len);
  }

  /** The next tagged message (tag, length, body), capped at `max` bytes. */
  async message(max: number): Promise<{ tag: number; frame: Buffer }> {
    await this.need(5);
    const tag = this.buf[0];
    const len = this.buf.readInt32BE(1);
    if (len < 4) throw new ProtocolError(`invalid message length ${len} for message type '${String.fromCharCode(tag)}'`);
    if (len + 1 > max) throw new MessageTooLargeError(len + 1, max, tag);
    await this.need(len + 1);
    return { tag, frame: this.take(len + 1) };
  }

  /** Bytes received but not yet read. Nothing may be pending when TLS starts (CVE-2021-23214). */
  get pendingBytes(): number {
    return this.buf.length;
  }

  /** Stop reading; returns bytes already received and not consumed. The socket stays paused. */
  detach(): Buffer | null {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
    const rest = this.buf.length ? this.buf : null;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}
