/**
 * Framing of the byte stream into messages, surviving any TCP split.
 *
 * - `StartupFramer`: untagged startup-phase packets (Int32 length including itself), capped.
 * - `MessageFramer`: tagged messages (Byte1 tag, Int32 length including itself), capped, each
 *   delivered whole as a view of the input when it lies in one chunk (no copy) and joined only when
 *   it spans chunks.
 * - `StreamScanner` (scanner.ts) is the zero-copy variant used for the server's responses.
 *
 * Lengths are checked before anything is allocated (a peer claiming a 2 GB message is refused at
 * the header, not after buffering it).
 */
import { ProtocolError } from './reader.ts';

export class MessageTooLargeError extends ProtocolError {
  constructor(
    readonly size: number,
    readonly limit: number,
    readonly tag: number,
  ) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** Incomplete messages of at least this many bytes are filled into one buffer of their size. */
const WHOLE_FROM = 256 * 1024;

/**
 * Accumulates chunks and keeps the remainder. While a message is incomplete the chunks are kept
 * in a list and joined once, when enough bytes have arrived, so a large message split over many
 * reads is copied twice (when kept, when joined), not once per read. Nothing kept is a view of a
 * caller's chunk: callers MAY reuse a chunk once `push()` returns.
 */
abstract class Accumulator {
  private parts: Buffer[] = [];
  private size = 0;
  /** How many bytes the incomplete message at the head needs in all (0: unknown yet). */
  protected want = 0;
  /**
   * A large incomplete message of known length is filled into one buffer of its size, not kept
   * as a list of read-sized copies: one allocation the allocator can give back whole when freed.
   */
  private whole: Buffer | null = null;

  /** `headerSize`: bytes needed to read a length (4 untagged, 5 tagged). */
  constructor(private readonly headerSize: number) {}

  protected take(chunk: Buffer): Buffer | null {
    if (this.size === 0) return chunk;
    const whole = this.whole;
    if (whole) {
      const n = Math.min(chunk.length, whole.length - this.size);
      chunk.copy(whole, this.size, 0, n);
      this.size += n;
      if (this.size < whole.length) return null;
      this.whole = null;
      this.size = 0;
      this.want = 0;
      return n === chunk.length ? whole : Buffer.concat([whole, chunk.subarray(n)]);
    }
    this.size += chunk.length;
    if (this.size < Math.max(this.want, this.headerSize)) {
      // Copy, as in keep(): the caller may reuse its chunk once push() returns.
      this.parts.push(Buffer.from(chunk));
      return null;
    }
    this.parts.push(chunk);
    const joined = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.want = 0;
    return joined;
  }

  protected keep(buf: Buffer, from: number, want: number): void {
    this.want = want;
    if (from < buf.length) {
      if (want >= WHOLE_FROM) {
        // Copy: the caller may reuse its chunk, and a view would pin a large buffer.
        this.whole = Buffer.allocUnsafeSlow(want);
        this.size = buf.copy(this.whole, 0, from);
        return;
      }
      // Copy: the caller may reuse its chunk, and a view would pin a large buffer.
      const rest = Buffer.from(buf.subarray(from));
      this.parts = [rest];
      this.size = rest.length;
    }
  }

  /** Bytes received but not yet part of a whole message. */
  get buffered(): number {
    return this.size;
  }

  /**
   * Bytes of memory held for the incomplete message: what was received, or the whole size of a
   * large message's buffer, which is allocated when its header arrives.
   */
  get reserved(): number {
    return this.whole ? this.whole.length : this.size;
  }

  /** Hand over what is buffered (used when the connection switches to TLS or to tagged mode). */
  drainRemainder(): Buffer | null {
    if (this.size === 0) return null;
    if (this.whole) {
      const w = this.whole.subarray(0, this.size);
      this.whole = null;
      this.size = 0;
      this.want = 0;
      return w;
    }
    const joined = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.want = 0;
    return joined;
  }
}

export class StartupFramer extends Accumulator {
  constructor(private readonly maxSize: number) {
    super(4);
  }

  /**
   * Returns the first whole startup packet (length prefix included) and keeps anything after it,
   * or null when more bytes are needed. Call `drainRemainder()` after a packet to get any bytes
   * the client already sent beyond it.
   */
  push(chunk: Buffer): Buffer | null {
    const buf = this.take(chunk);
    if (buf === null) return null;
    if (buf.length < 4) {
      this.keep(buf, 0, 4);
      return null;
    }
    const len = buf.readInt32BE(0);
    if (len < 8) throw new ProtocolError(`invalid startup packet length ${len}`);
    if (len > this.maxSize) throw new MessageTooLargeError(len, this.maxSize, 0);
    if (buf.length < len) {
      this.keep(buf, 0, len);
      return null;
    }
    this.keep(buf, len, 0);
    return buf.subarray(0, len);
  }
}

export type FrameHandler = (tag: number, frame: Buffer) => void;
/** A message over its tag's skip cap: its body is discarded, never buffered (`size` with the tag). */
export type OversizeHandler = (tag: number, size: number) => void;

export class MessageFramer extends Accumulator {
  /** Per-tag caps below the general one (e.g. PasswordMessage before authentication). */
  private caps: Map<number, number> | null = null;
  /** Per-tag caps whose excess is skipped (the stream stays framed) rather than fatal. */
  private skipCaps: Map<number, number> | null = null;
  /** Bytes of an oversized message's body still to discard. */
  private skipping = 0;
  /** Called for a message over its skip cap, in stream order with the frames. */
  onOversize: OversizeHandler | null = null;

  constructor(public maxSize: number) {
    super(5);
  }

  capTag(tag: number, max: number): void {
    (this.caps ??= new Map()).set(tag, max);
  }

  /**
   * A cap for `tag` whose excess is not fatal: a longer message is reported to `onOversize` at
   * its header and its body is discarded as it arrives, so it costs no memory and the messages
   * after it are framed as usual.
   */
  skipOver(tag: number, max: number): void {
    (this.skipCaps ??= new Map()).set(tag, max);
  }

  /**
   * Calls `onFrame` for every whole message in order. The frame covers tag, length and body.
   * Throws ProtocolError (or MessageTooLargeError) on an invalid header; the caller MUST then close
   * the connection, because the stream can no longer be framed.
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    const buf = this.take(chunk);
    if (buf === null) return;
    let pos = 0;
    let want = 0;
    const n = buf.length;
    while (n - pos >= 5) {
      const tag = buf[pos];
      const len = buf.readInt32BE(pos + 1);
      if (len < 4) throw new ProtocolError(`invalid message length ${len} for message type '${String.fromCharCode(tag)}'`);
      const cap = this.caps?.get(tag) ?? this.maxSize;
      const skipCap = this.skipCaps?.get(tag);
      const end = pos + 1 + len;
      if (skipCap !== undefined && len + 1 > skipCap && this.onOversize) {
        this.onOversize(tag, len + 1);
        if (end > n) {
          this.skipping = end - n;
          pos = n;
          break;
        }
        pos = end;
        continue;
      }
      if (len + 1 > cap) throw new MessageTooLargeError(len + 1, cap, tag);
      if (end > n) {
        want = len + 1;
        break;
      }
      onFrame(tag, buf.subarray(pos, end));
      pos = end;
    }
    this.keep(buf, pos, want);
  }
}
