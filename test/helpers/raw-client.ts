/**
 * A minimal protocol-level client for tests that must send what drivers never send (a
 * FunctionCall, a malformed length, a pipelined burst) and read every message that comes back.
 */
import net from 'node:net';
import { AUTH, BE, MessageFramer, decodeAuthentication, decodeFields, encodePassword, encodeStartup, type FieldMap } from '../../src/protocol/index.ts';

export interface RawMessage {
  tag: string;
  frame: Buffer;
  fields?: FieldMap;
}

export class RawClient {
  readonly messages: RawMessage[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  private readonly framer = new MessageFramer(1 << 30);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.framer.push(chunk, (tag, frame) => {
        const m: RawMessage = { tag: String.fromCharCode(tag), frame: Buffer.from(frame) };
        if (tag === BE.ErrorResponse || tag === BE.NoticeResponse) m.fields = decodeFields(m.frame);
        this.messages.push(m);
      });
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, token: string, database = 'app', params: Record<string, string> = {}): Promise<RawClient> {
    const c = await RawClient.open(port, { user: 'agent', database, ...params });
    await c.authenticate(token);
    return c;
  }

  /** Connect and send a StartupMessage with exactly these parameters; nothing is awaited. */
  static async open(port: number, params: Record<string, string>): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const c = new RawClient(socket);
    socket.write(encodeStartup(params));
    return c;
  }

  /** Answer the cleartext password request with the token and wait for ReadyForQuery. */
  async authenticate(token: string): Promise<void> {
    const auth = await this.next('R');
    const a = decodeAuthentication(auth.frame);
    if (a.code !== AUTH.CleartextPassword) throw new Error(`unexpected auth request ${a.code}`);
    this.socket.write(encodePassword(token));
    await this.until('Z');
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  private async wait(deadline: number): Promise<void> {
    if (Date.now() > deadline) throw new Error('timed out waiting for the server');
    await new Promise<void>((r) => {
      const timer = setTimeout(r, Math.max(1, deadline - Date.now()));
      this.waiters.push(() => {
        clearTimeout(timer);
        r();
      });
    });
  }

  /** All messages up to and including the next one with this tag (consumed). */
  async until(tag: string, timeoutMs = 5000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.tag === tag);
      if (i >= 0) return this.messages.splice(0, i + 1);
      if (this.closed) throw new Error(`connection closed before a '${tag}' message; got ${this.messages.map((m) => m.tag).join('')}`);
      await this.wait(deadline);
    }
  }

  /** The next message with this tag (everything before it is consumed). */
  async next(tag: string, timeoutMs = 5000): Promise<RawMessage> {
    const got = await this.until(tag, timeoutMs);
    return got[got.length - 1];
  }

  /** Wait until the server closes the connection; returns the messages received meanwhile. */
  async closedWith(timeoutMs = 5000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) await this.wait(deadline);
    return this.messages.splice(0);
  }

  end(): void {
    this.socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
  }
}

export function message(tag: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = tag.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
