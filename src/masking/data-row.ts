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
 * On the relay's hot path the row is written into the output of the read instead of a buffer of
 * its own: `maskDataRowTo` (any masker), or `maskDataRowDirect` in one pass when every masker of
 * the plan has a fixed result or writes into the output (`directGrowth`), with no allocation per
 * row or per cell.
 *
 * A frame whose column count differs from the plan's, or whose cell lengths run past the frame, is
 * a protocol violation: it throws ProtocolError rather than guess which cell is which.
 */
import { ProtocolError, type ByteSink } from '../protocol/index.ts';
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

/**
 * The changed cells of the row being masked: [start of length word, end of bytes] pairs and their
 * new values. Module-level and reused, so masking a row allocates nothing of its own; the functions
 * below are not re-entrant (a masker never masks a row).
 */
const spans: number[] = [];
const values: (Buffer | null)[] = [];
/** How many of `spans` / `values` belong to the row being masked. */
let count = 0;

/**
 * Read the row and mask its cells into `spans` / `values`; returns the size change of the row, or
 * NaN when no cell changed.
 */
function maskCells(frame: Buffer, plan: MaskPlan): number {
  const size = frame.length;
  if (size < HEADER) throw new ProtocolError('DataRow too short');
  const cols = plan.columns;
  const n = (frame[5] << 8) | frame[6];
  if (n !== cols.length) throw new ProtocolError(`DataRow has ${n} columns, the row description ${cols.length}`);
  count = 0;
  let pos = HEADER;
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
      // A masker with a fixed output (redact, null) is not called: no view of the cell is made.
      const fixed = m.fixed;
      const cell = fixed === undefined ? frame.subarray(pos, end) : undefined;
      const out = fixed === undefined ? m.mask(cell!) : fixed;
      if (out !== cell) {
        spans[2 * count] = start;
        spans[2 * count + 1] = end;
        values[count++] = out;
        delta += (out === null ? 0 : out.length) - len;
      }
    }
    pos = end;
  }
  if (pos !== size) throw new ProtocolError(`${size - pos} trailing bytes in DataRow`);
  return count === 0 ? NaN : delta;
}

/** Write the masked row into `out` from `at`: untouched bytes copied as spans, changed cells replaced. */
function writeRow(frame: Buffer, out: Buffer, at: number, newSize: number): void {
  const start = at;
  let from = 0;
  let to = at;
  for (let k = 0; k < count; k++) {
    to = copyInto(frame, from, spans[2 * k], out, to);
    const v = values[k];
    if (v === null) {
      writeInt32(out, to, -1);
      to += 4;
    } else {
      writeInt32(out, to, v.length);
      to = copyInto(v, 0, v.length, out, to + 4);
    }
    values[k] = null; // no reference kept to a replacement value
    from = spans[2 * k + 1];
  }
  copyInto(frame, from, frame.length, out, to);
  writeInt32(out, start + 1, newSize - 1);
  count = 0;
}

export function maskDataRow(frame: Buffer, plan: MaskPlan): Buffer {
  if (!plan.any) return frame;
  const delta = maskCells(frame, plan);
  if (Number.isNaN(delta)) return frame;
  const out = Buffer.allocUnsafe(frame.length + delta);
  writeRow(frame, out, 0, out.length);
  return out;
}

/**
 * `maskDataRow` into a sink: an unchanged row is pushed as the same bytes, a changed one is
 * written straight into the sink's room (no buffer of its own).
 */
export function maskDataRowTo(frame: Buffer, plan: MaskPlan, sink: ByteSink): void {
  const delta = plan.any ? maskCells(frame, plan) : NaN;
  if (Number.isNaN(delta)) {
    sink.push(frame);
    return;
  }
  const size = frame.length + delta;
  const out = sink.room(size);
  writeRow(frame, out, sink.at, size);
  sink.commit(size);
}

/**
 * The most a row masked with `plan` can grow in one pass (`maskDataRowDirect`), or null when a
 * masker of the plan can only return buffers (then `maskDataRowTo` is used).
 */
export function directGrowth(plan: MaskPlan): number | null {
  let g = 0;
  for (const m of plan.columns) {
    if (m === null) continue;
    if (m.fixed !== undefined) g += m.fixed === null ? 0 : m.fixed.length;
    else if (m.writeTo !== undefined && m.growth !== undefined) g += m.growth;
    else return null;
  }
  return g;
}

/**
 * `maskDataRowTo` in one pass, for plans whose maskers write into the output (`directGrowth` not
 * null): the row is written into the sink's room as it is read — untouched bytes copied as spans,
 * fixed values and `writeTo` results in place of the masked cells, the cell and message lengths
 * fixed afterwards. Nothing is allocated per row or per cell. The bytes are the same as
 * `maskDataRow`'s (a row whose masked cells are all NULL is copied unchanged). The row is
 * `src[rowStart, rowEnd)`, so the caller need not make a view of it.
 */
export function maskDataRowDirect(src: Buffer, rowStart: number, rowEnd: number, plan: MaskPlan, growth: number, sink: ByteSink): void {
  const size = rowEnd;
  if (size - rowStart < HEADER) throw new ProtocolError('DataRow too short');
  const frame = src;
  const cols = plan.columns;
  const n = (frame[rowStart + 5] << 8) | frame[rowStart + 6];
  if (n !== cols.length) throw new ProtocolError(`DataRow has ${n} columns, the row description ${cols.length}`);
  const out = sink.room(size - rowStart + growth);
  const base = sink.at;
  let to = base;
  let from = rowStart; // start of the untouched span not yet copied
  let pos = rowStart + HEADER;
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
      to = copyInto(frame, from, start, out, to);
      const fixed = m.fixed;
      if (fixed === null) {
        writeInt32(out, to, -1);
        to += 4;
      } else if (fixed !== undefined) {
        writeInt32(out, to, fixed.length);
        to = copyInto(fixed, 0, fixed.length, out, to + 4);
      } else {
        const valueAt = to + 4;
        to = m.writeTo!(frame, pos, end, out, valueAt);
        writeInt32(out, valueAt - 4, to - valueAt);
      }
      from = end;
    }
    pos = end;
  }
  if (pos !== size) throw new ProtocolError(`${size - pos} trailing bytes in DataRow`);
  to = copyInto(frame, from, size, out, to);
  writeInt32(out, base + 1, to - base - 1);
  sink.commit(to - base);
}
