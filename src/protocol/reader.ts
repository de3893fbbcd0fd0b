/**
 * A bounds-checked cursor over one message body. Every read checks the remaining length first and
 * throws a `ProtocolError` on a short or malformed body, so a hostile peer can never make the
 * decoder read past the frame or allocate from an unchecked length.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) throw new ProtocolError(`message too short for ${what}`);
  }

  byte(): number {
    this.need(1, 'a byte');
    return this.buf[this.pos++];
  }

  int16(): number {
    this.need(2, 'an Int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'an Int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'an Int32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A NUL-terminated string; throws when there is no terminator inside the message. */
  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new ProtocolError('unterminated string');
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** `n` bytes as a view (no copy). */
  bytes(n: number): Buffer {
    this.need(n, `${n} bytes`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /**
   * An Int16 count, checked against what could possibly fit in the rest of the message. Read
   * unsigned, as PostgreSQL does (`pq_getmsgint(msg, 2)`): libpq sends up to 65535 parameters.
   */
  count16(minItemSize: number, what: string): number {
    this.need(2, 'an Int16');
    const n = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    if (n * minItemSize > this.remaining) throw new ProtocolError(`bad ${what} count ${n}`);
    return n;
  }

  done(what: string): void {
    if (this.pos !== this.end) throw new ProtocolError(`${this.end - this.pos} trailing bytes in ${what}`);
  }
}
