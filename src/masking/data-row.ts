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

interface Change {
  index: number;
  start: number; // offset of the cell's length word
  end: number; // offset after the cell's bytes
  value: Buffer | null;
}

export function maskDataRow(frame: Buffer, plan: MaskPlan): Buffer {
  if (!plan.any) return frame;
  if (frame.length < HEADER) throw new ProtocolError('DataRow too short');
  const cols = plan.columns;
  const n = frame.readUInt16BE(5);
  if (n !== cols.length) throw new ProtocolError(`DataRow has ${n} columns, the row description ${cols.length}`);
  let pos = HEADER;
  let changes: Change[] | undefined;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > frame.length) throw new ProtocolError('DataRow cell length past the end of the message');
    const len = frame.readInt32BE(pos);
    const start = pos;
    pos += 4;
    if (len < -1 || pos + Math.max(len, 0) > frame.length) throw new ProtocolError('DataRow cell past the end of the message');
    if (len >= 0) {
      const m = cols[i];
      if (m !== null) {
        const cell = frame.subarray(pos, pos + len);
        const out = m.mask(cell);
        if (out !== cell) {
          (changes ??= []).push({ index: i, start, end: pos + len, value: out });
          delta += (out === null ? 0 : out.length) - len;
        }
      }
      pos += len;
    }
  }
  if (pos !== frame.length) throw new ProtocolError(`${frame.length - pos} trailing bytes in DataRow`);
  if (changes === undefined) return frame;

  const out = Buffer.allocUnsafe(frame.length + delta);
  let from = 0;
  let to = 0;
  for (const c of changes) {
    to += frame.copy(out, to, from, c.start);
    if (c.value === null) {
      out.writeInt32BE(-1, to);
      to += 4;
    } else {
      out.writeInt32BE(c.value.length, to);
      to += 4;
      to += c.value.copy(out, to);
    }
    from = c.end;
  }
  to += frame.copy(out, to, from);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}
