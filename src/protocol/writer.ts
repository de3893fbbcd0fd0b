/**
 * A small growable writer for building protocol messages. One writer per connection is reused;
 * `message(tag)` starts a tagged message and `end()` back-patches its length and returns the
 * bytes as a fresh Buffer (callers may hold on to it).
 */
export class Writer {
  private buf: Buffer;
  private pos = 0;
  private start = -1;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Begin a tagged message (tag byte + Int32 length placeholder). */
  message(tag: number): this {
    this.pos = 0;
    this.ensure(5);
    this.buf[0] = tag;
    this.start = 1;
    this.pos = 5;
    return this;
  }

  /** Begin an untagged startup-phase message (Int32 length placeholder only). */
  untagged(): this {
    this.pos = 0;
    this.ensure(4);
    this.start = 0;
    this.pos = 4;
    return this;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n + 1);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  end(): Buffer {
    if (this.start < 0) throw new Error('Writer.end() without message()');
    this.buf.writeInt32BE(this.pos - this.start, this.start);
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.start = -1;
    this.pos = 0;
    return out;
  }
}
