/**
 * The attacker's client: speaks the protocol at the byte level (so it can send what no driver
 * sends: a query in SJIS, several statements in one Parse, a name re-bound between messages) and
 * keeps every byte the gateway sent back, for the clear-value search.
 */
import net from 'node:net';
import {
  AUTH,
  BE,
  MessageFramer,
  decodeAuthentication,
  decodeFields,
  encodeBind,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodePassword,
  encodeStartup,
  type FieldMap,
} from '../../src/protocol/index.ts';

export interface Received {
  tag: string;
  frame: Buffer;
  fields?: FieldMap;
}

export class AttackClient {
  /** Every byte received from the gateway, from the first byte of the handshake on. */
  readonly bytes: Buffer[] = [];
  readonly messages: Received[] = [];
  /** Every ErrorResponse received (also the ones consumed by `until`). */
  readonly errors: FieldMap[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private readonly framer = new MessageFramer(1 << 30);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.bytes.push(Buffer.from(chunk));
      this.framer.push(chunk, (tag, frame) => {
        const m: Received = { tag: String.fromCharCode(tag), frame: Buffer.from(frame) };
        if (tag === BE.ErrorResponse || tag === BE.NoticeResponse) m.fields = decodeFields(m.frame);
        if (tag === BE.ErrorResponse && m.fields) this.errors.push(m.fields);
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

  /**
   * Connect and sign in with `token`. Resolves when the session is ready, or when the gateway
   * refused the connection (then `closed` is true and `errors` says why).
   */
  static async connect(port: number, token: string, params: Record<string, string> = {}): Promise<AttackClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r, j) => {
      socket.once('connect', r);
      socket.once('error', j);
    });
    const c = new AttackClient(socket);
    socket.write(encodeStartup({ user: 'agent', database: 'app', ...params }));
    const first = await c.nextOf(['R', 'E']);
    if (first.tag === 'E') {
      await c.closedWith();
      return c;
    }
    const a = decodeAuthentication(first.frame);
    if (a.code !== AUTH.CleartextPassword) throw new Error(`unexpected auth request ${a.code}`);
    socket.write(encodePassword(token));
    const end = await c.nextOf(['Z', 'E']);
    if (end.tag === 'E') await c.closedWith();
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async wait(deadline: number): Promise<void> {
    if (Date.now() > deadline) throw new Error('timed out waiting for the gateway');
    await new Promise<void>((r) => {
      const timer = setTimeout(r, Math.max(1, deadline - Date.now()));
      this.waiters.push(() => {
        clearTimeout(timer);
        r();
      });
    });
  }

  private async nextOf(tags: string[], timeoutMs = 10_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => tags.includes(m.tag));
      if (i >= 0) return this.messages.splice(0, i + 1)[i];
      if (this.closed) return { tag: 'closed', frame: Buffer.alloc(0) };
      await this.wait(deadline);
    }
  }

  /** Send raw bytes, then wait for the ReadyForQuery that ends the cycle (or the connection's end). */
  async cycle(bytes: Buffer, timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.socket.write(bytes);
    await this.nextOf(['Z'], timeoutMs);
  }

  query(text: string | Buffer): Promise<void> {
    const body = Buffer.concat([typeof text === 'string' ? Buffer.from(text) : text, Buffer.from([0])]);
    return this.cycle(frame('Q', body));
  }

  /** Parse (named), Bind, Describe, Execute, Sync. */
  extended(statement: string, text: string | null, params: (string | null)[] = [], resultFormats: number[] = []): Promise<void> {
    const parts: Buffer[] = [];
    if (text !== null) parts.push(encodeParse(statement, text));
    parts.push(encodeBind('', statement, params, resultFormats), encodeDescribe('P', ''), encodeExecute(''), frame('S', Buffer.alloc(0)));
    return this.cycle(Buffer.concat(parts));
  }

  /** Parse alone, then Sync. */
  parse(statement: string, text: string): Promise<void> {
    return this.cycle(Buffer.concat([encodeParse(statement, text), frame('S', Buffer.alloc(0))]));
  }

  async closedWith(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) await this.wait(deadline);
  }

  received(): Buffer {
    return Buffer.concat(this.bytes);
  }

  end(): void {
    if (!this.closed) this.socket.end(frame('X', Buffer.alloc(0)));
  }
}

export function frame(tag: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = tag.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
