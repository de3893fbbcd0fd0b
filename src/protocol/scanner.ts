/**
 * Zero-copy scanning of a tagged message stream (the server's responses).
 *
 * The scanner reads only message headers. Messages whose tag is not marked interesting are passed
 * on as the same bytes, in runs as long as the input chunk allows, even when a message is split
 * across chunks (a 1 GB result streams through with a few header reads per chunk and no copies).
 * Messages whose tag is interesting are delivered whole to `message()`, in stream order, and the
 * sink decides what to emit in their place. The interesting-tag table may change between messages
 * (e.g. after a RowDescription the owner marks DataRow interesting when a column must be masked):
 * it is read at each header.
 *
 * DataRows can also be counted without being delivered: while a finite `rowAllowance` is above
 * zero, a DataRow that is not interesting passes as bytes, takes one from the allowance and adds
 * one to `passedRows`; once the allowance is spent, DataRows are delivered like interesting messages
 * (a row limit then sees the row past its limit, and only that one, whole). The count is read from
 * the header alone, so a limit costs nothing per row below it.
 */
import { MessageTooLargeError } from './framer.ts';
import { ProtocolError } from './reader.ts';

const DATA_ROW = 0x44; // 'D'

export interface ScanSink {
  /** Bytes to forward unchanged; may hold several messages or part of one. */
  pass(bytes: Buffer): void;
  /** A whole message (tag, length, body) of an interesting type. */
  message(tag: number, frame: Buffer): void;
  /**
   * Optional: an interesting DataRow lying whole in the chunk, as `chunk[start, end)` (no view is
   * made for it: rows are the one message that comes by the hundred thousand). Without it, rows
   * come to `message` like the rest. Valid during the call only.
   */
  row?(chunk: Buffer, start: number, end: number): void;
}

export class StreamScanner {
  /** `interesting[tag] === 1` delivers messages of that tag whole to `message()`. */
  readonly interesting = new Uint8Array(256);
  /** Bytes of the current pass-through message still to come. */
  private skip = 0;
  /** A partial header, or the beginning of an interesting message. */
  private carry: Buffer[] = [];
  private carryLen = 0;
  /** Total size of the interesting message being carried; 0 while the header is incomplete. */
  private carryWant = 0;
  /** DataRows that may still pass uninteresting before they are delivered (see the module doc). */
  rowAllowance = Infinity;
  /** DataRows passed as bytes (not delivered) since the owner last reset it. */
  passedRows = 0;

  constructor(public maxInterestingSize: number) {}

  /** True when the scanner stands between two messages. */
  get atBoundary(): boolean {
    return this.skip === 0 && this.carryLen === 0;
  }

  push(chunk: Buffer, sink: ScanSink): void {
    let pos = 0;
    const n = chunk.length;
    if (this.carryLen > 0) {
      pos = this.resumeCarry(chunk, sink);
      if (pos < 0) return; // chunk fully absorbed into the carry
    }
    let runStart = pos;
    while (pos < n) {
      if (this.skip > 0) {
        const adv = Math.min(this.skip, n - pos);
        pos += adv;
        this.skip -= adv;
        continue;
      }
      if (n - pos < 5) {
        if (pos > runStart) sink.pass(chunk.subarray(runStart, pos));
        this.startCarry(chunk.subarray(pos), 0);
        return;
      }
      const tag = chunk[pos];
      const len = chunk.readInt32BE(pos + 1);
      if (len < 4) throw new ProtocolError(`invalid message length ${len} for message type '${String.fromCharCode(tag)}'`);
      if (this.interesting[tag] === 0 && this.passes(tag)) {
        this.skip = len + 1;
        continue;
      }
      if (len + 1 > this.maxInterestingSize) throw new MessageTooLargeError(len + 1, this.maxInterestingSize, tag);
      if (pos > runStart) sink.pass(chunk.subarray(runStart, pos));
      const end = pos + len + 1;
      if (end <= n) {
        if (tag === DATA_ROW && sink.row) sink.row(chunk, pos, end);
        else sink.message(tag, chunk.subarray(pos, end));
        pos = end;
        runStart = pos;
      } else {
        this.startCarry(chunk.subarray(pos), len + 1);
        return;
      }
    }
    if (pos > runStart) sink.pass(chunk.subarray(runStart, pos));
  }

  /**
   * An uninteresting message passes, unless it is a DataRow past the allowance. Rows are counted
   * only under a finite allowance (nobody counts them otherwise).
   */
  private passes(tag: number): boolean {
    if (tag !== DATA_ROW || this.rowAllowance === Infinity) return true;
    if (this.rowAllowance <= 0) return false;
    this.rowAllowance--;
    this.passedRows++;
    return true;
  }

  private startCarry(bytes: Buffer, want: number): void {
    const copy = Buffer.from(bytes);
    this.carry = [copy];
    this.carryLen = copy.length;
    this.carryWant = want;
  }

  /**
   * Continue a carried header or message with the new chunk. Returns the position in `chunk` where
   * normal scanning resumes, or -1 when the whole chunk went into the carry.
   */
  private resumeCarry(chunk: Buffer, sink: ScanSink): number {
    let pos = 0;
    if (this.carryWant === 0) {
      // Complete the 5-byte header from the start of the chunk.
      const need = 5 - this.carryLen;
      if (chunk.length < need) {
        this.carry.push(Buffer.from(chunk));
        this.carryLen += chunk.length;
        return -1;
      }
      const header = Buffer.concat([...this.carry, chunk.subarray(0, need)], 5);
      const tag = header[0];
      const len = header.readInt32BE(1);
      if (len < 4) throw new ProtocolError(`invalid message length ${len} for message type '${String.fromCharCode(tag)}'`);
      if (this.interesting[tag] === 0 && this.passes(tag)) {
        // Forward the carried header bytes; the rest of the message streams from the chunk.
        sink.pass(Buffer.concat(this.carry, this.carryLen));
        this.skip = len + 1 - this.carryLen;
        this.carry = [];
        this.carryLen = 0;
        return 0;
      }
      if (len + 1 > this.maxInterestingSize) throw new MessageTooLargeError(len + 1, this.maxInterestingSize, tag);
      this.carryWant = len + 1;
    }
    const need = this.carryWant - this.carryLen;
    if (chunk.length < need) {
      this.carry.push(Buffer.from(chunk));
      this.carryLen += chunk.length;
      return -1;
    }
    this.carry.push(chunk.subarray(0, need));
    const frame = Buffer.concat(this.carry, this.carryWant);
    pos = need;
    this.carry = [];
    this.carryLen = 0;
    this.carryWant = 0;
    sink.message(frame[0], frame);
    return pos;
  }
}
