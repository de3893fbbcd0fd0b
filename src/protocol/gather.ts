/**
 * Gathering what one read makes the peer get into one socket write.
 *
 * Pieces are kept as views, never copied: a piece that starts where the previous one ends in the
 * same memory (the next run of the same input chunk) extends it, so a response forwarded untouched
 * leaves as the very chunk it came in. Bytes the gateway writes itself (a masked row) go into a
 * scratch area at the end of the pieces (`room` / `commit`); consecutive rewritten rows are one
 * piece. The scratch is append-only: bytes handed out are never written again (a socket may still
 * hold them), and a fresh scratch is taken when it is full.
 */
export interface ByteSink {
  /** Bytes to send as they are (kept as a view: the caller MUST NOT change them afterwards). */
  push(bytes: Buffer): void;
  /** A buffer with at least `n` writable bytes from offset `at`; then `commit` what was written. */
  room(n: number): Buffer;
  readonly at: number;
  commit(n: number): void;
}

const SCRATCH = 256 * 1024;

export class ByteGather implements ByteSink {
  private parts: Buffer[] = [];
  private scratch: Buffer = Buffer.alloc(0);
  private used = 0;
  /** Start of the scratch piece being written (-1: none open). */
  private open = -1;
  /** Bytes gathered so far. */
  size = 0;

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.close();
    this.append(bytes);
    this.size += bytes.length;
  }

  private append(bytes: Buffer): void {
    const parts = this.parts;
    const n = parts.length;
    if (n > 0) {
      const last = parts[n - 1];
      if (last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
        parts[n - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
        return;
      }
    }
    parts.push(bytes);
  }

  room(n: number): Buffer {
    if (this.scratch.length - this.used < n) {
      this.close();
      this.scratch = Buffer.allocUnsafeSlow(Math.max(n, SCRATCH));
      this.used = 0;
    }
    if (this.open < 0) this.open = this.used;
    return this.scratch;
  }

  get at(): number {
    return this.used;
  }

  commit(n: number): void {
    this.used += n;
    this.size += n;
  }

  /** The gathered pieces, in order (empty when nothing was gathered); the gather starts over. */
  take(): Buffer[] {
    this.close();
    const parts = this.parts;
    this.parts = [];
    this.size = 0;
    return parts;
  }

  private close(): void {
    if (this.open < 0) return;
    const start = this.open;
    this.open = -1;
    if (this.used > start) this.append(this.scratch.subarray(start, this.used));
  }
}
