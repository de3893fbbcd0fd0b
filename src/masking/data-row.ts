/**
 * DataRow rewriting on raw bytes.
 *
 * A DataRow is `'D'`, Int32 length (self-inclusive), Int16 column count, then per column an Int32
 * length (-1 = NULL) and that many bytes. Cells are read as offsets into the frame; only the cells
 * the plan masks are handed to a masker, and only when one of them changes is a new frame built
 * (one allocation, the untouched cells copied as bytes, the message length fixed). A row whose
 * masked cells are all NULL or unchanged is returned as the SAME Buffer, so the caller can forward
 * it (and the run of frames around it) untouched.
 *
 * A frame whose column count differs from the plan's, or whose cell lengths run past the frame, is
 * a protocol violation: it throws ProtocolError rather than guess which cell is which.
 */
import { ProtocolError } from '../protocol/index.ts';
import type { MaskPlan } from './types.ts';

const HEADER = 7; // tag, length, column count

/** Below this many bytes a JS loop copies faster than a call into Buffer.copy. */
const SMALL_COPY = 48;

function copyInto(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  const n = to - from;
  if (n < SMALL_COPY) for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
  else src.copy(dst, at, from, to);
  return at + n;
}

function int32(b: Buffer, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

function writeInt32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export function maskDataRow(frame: Buffer, plan: MaskPlan): Buffer {
  if (!plan.any) return frame;
  const size = frame.length;
  if (size < HEADER) throw new ProtocolError('DataRow too short');
  const cols = plan.columns;
  const n = (frame[5] << 8) | frame[6];
  if (n !== cols.length) throw new ProtocolError(`DataRow has ${n} columns, the row description ${cols.length}`);
  let pos = HEADER;
  // Changed cells as [start of length word, end of bytes] pairs, with their new values.
  let spans: number[] | undefined;
  let values: (Buffer | null)[] | undefined;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > size) throw new ProtocolError('DataRow cell length past the end of the message');
    const len = int32(frame, pos);
    const start = pos;
    pos += 4;
    if (len < 0) {
      if (len !== -1) throw new ProtocolError('DataRow cell with a negative length');
      continue;
    }
    const end = pos + len;
    if (end > size) throw new ProtocolError('DataRow cell past the end of the message');
    const m = cols[i];
    if (m !== null) {
      const cell = frame.subarray(pos, end);
      const out = m.mask(cell);
      if (out !== cell) {
        if (spans === undefined || values === undefined) {
          spans = [];
          values = [];
        }
        spans.push(start, end);
        values.push(out);
        delta += (out === null ? 0 : out.length) - len;
      }
    }
    pos = end;
  }
  if (pos !== size) throw new ProtocolError(`${size - pos} trailing bytes in DataRow`);
  if (spans === undefined || values === undefined) return frame;

  const out = Buffer.allocUnsafe(size + delta);
  let from = 0;
  let to = 0;
  for (let k = 0; k < values.length; k++) {
    to = copyInto(frame, from, spans[2 * k], out, to);
    const v = values[k];
    if (v === null) {
      writeInt32(out, to, -1);
      to += 4;
    } else {
      writeInt32(out, to, v.length);
      to = copyInto(v, 0, v.length, out, to + 4);
    }
    from = spans[2 * k + 1];
  }
  to = copyInto(frame, from, size, out, to);
  writeInt32(out, 1, out.length - 1);
  return out;
}
