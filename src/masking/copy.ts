/**
 * `COPY … TO STDOUT` rewriting, text and CSV formats.
 *
 * The server sends the copied rows as CopyData ('d') messages. PostgreSQL sends one row per
 * message, but the protocol does not promise it: a message may hold several rows or part of one,
 * so a row's start is kept in the CopyState until its end arrives (linear: scanning resumes where
 * it stopped, bytes are concatenated once per row). Rows are split into fields exactly as COPY
 * FROM would read them:
 * - text: fields end at an unescaped delimiter, rows at a newline (a newline inside a value is
 *   always written `\n`); values are backslash-escaped (`\t \n \\ \N`, octal, `\x` hex);
 * - CSV: fields may be quoted, a quoted field may hold delimiters and newlines, `""` (or the
 *   ESCAPE character) escapes a quote; an unquoted field equal to the NULL string is NULL.
 * A masked value is unescaped, masked as text, and written back escaped (CSV: always quoted, so
 * an empty masked text is never read back as NULL). Untouched rows are copied as bytes; a message
 * with no masked change and no held partial row is returned as the SAME Buffer.
 */
import { ProtocolError } from '../protocol/index.ts';
import type { MaskPlan } from './types.ts';

export interface CopyOptions {
  /** DELIMITER (default tab for text, comma for CSV). */
  delimiter?: string;
  /** NULL string (default `\N` for text, empty for CSV). */
  null?: string;
  /** CSV QUOTE (default `"`). */
  quote?: string;
  /** CSV ESCAPE (default: the quote). */
  escape?: string;
  /** HEADER: the first row holds column names and passes untouched. */
  header?: boolean;
}

export interface CopyState {
  readonly delimiter: number;
  readonly nullText: Buffer;
  readonly quote: number;
  readonly escape: number;
  headerPending: boolean;
  /** Bytes of the row in progress (from earlier messages). */
  pending: Buffer[];
  pendingLength: number;
  /** CSV: the scanner is inside a quoted field at the end of `pending`. */
  inQuotes: boolean;
  /** The last byte of `pending` is an escape character whose pair has not arrived yet. */
  afterEscape: boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const EMPTY = Buffer.alloc(0);
const TAG_COPY_DATA = 0x64; // 'd'

function byteOf(s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  const b = Buffer.from(s, 'utf8');
  if (b.length !== 1) throw new Error('COPY delimiter, quote and escape must be single-byte characters');
  return b[0];
}

export function createCopyState(format: 'text' | 'csv', options: CopyOptions = {}): CopyState {
  const quote = byteOf(options.quote, 0x22);
  return {
    delimiter: byteOf(options.delimiter, format === 'csv' ? 0x2c : 0x09),
    nullText: Buffer.from(options.null ?? (format === 'csv' ? '' : '\\N'), 'utf8'),
    quote,
    escape: byteOf(options.escape, quote),
    headerPending: options.header === true,
    pending: [],
    pendingLength: 0,
    inQuotes: false,
    afterEscape: false,
  };
}

function frameOf(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = TAG_COPY_DATA;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/**
 * The end of the row starting in `data` at `from` (index of its newline), or -1 when the row
 * continues past `data`. Updates the CSV quote / escape state as it goes.
 */
function rowEnd(data: Buffer, from: number, format: 'text' | 'csv', st: CopyState): number {
  if (format === 'text') return data.indexOf(LF, from);
  for (let i = from; i < data.length; i++) {
    const b = data[i];
    if (st.afterEscape) {
      st.afterEscape = false;
      continue;
    }
    if (st.inQuotes) {
      if (b === st.escape && st.escape !== st.quote) st.afterEscape = true;
      else if (b === st.quote) st.inQuotes = false;
    } else if (b === st.quote) st.inQuotes = true;
    else if (b === LF) return i;
  }
  return -1;
}

/**
 * Rewrite one CopyData message (the whole 'd' frame). Returns the frame to send: the same Buffer
 * when nothing changed, a new frame with the masked complete rows, or an empty Buffer (length 0:
 * send nothing) when the message only continued a row that has not ended yet. Call `flushCopy`
 * at CopyDone.
 */
export function maskCopyData(frame: Buffer, plan: MaskPlan, format: 'text' | 'csv', state: CopyState): Buffer {
  if (!plan.any) return frame;
  const data = frame.subarray(5);
  const parts: Buffer[] = [];
  let changed = state.pendingLength > 0;
  let start = 0;
  for (;;) {
    const end = rowEnd(data, start, format, state);
    if (end < 0) break;
    let row = data.subarray(start, end);
    if (state.pendingLength > 0) {
      row = Buffer.concat([...state.pending, row], state.pendingLength + row.length);
      state.pending = [];
      state.pendingLength = 0;
    }
    const masked = maskRow(row, plan, format, state);
    if (masked !== undefined) changed = true;
    parts.push(masked ?? row, NEWLINE);
    start = end + 1;
  }
  if (start < data.length) {
    // Copy: the frame's memory may be reused by the caller once this returns.
    const tail = Buffer.from(data.subarray(start));
    state.pending.push(tail);
    state.pendingLength += tail.length;
    changed = true;
  }
  if (!changed) return frame;
  if (parts.length === 0) return EMPTY;
  return frameOf(Buffer.concat(parts));
}

const NEWLINE = Buffer.from([LF]);

/** At CopyDone: the masked frame of a last row that had no newline, or an empty Buffer. */
export function flushCopy(plan: MaskPlan, format: 'text' | 'csv', state: CopyState): Buffer {
  if (state.pendingLength === 0) return EMPTY;
  const row = Buffer.concat(state.pending, state.pendingLength);
  state.pending = [];
  state.pendingLength = 0;
  state.inQuotes = false;
  state.afterEscape = false;
  return frameOf(maskRow(row, plan, format, state) ?? row);
}

/** The masked row (without its newline), or undefined when it is unchanged. */
function maskRow(row: Buffer, plan: MaskPlan, format: 'text' | 'csv', st: CopyState): Buffer | undefined {
  if (st.headerPending) {
    st.headerPending = false;
    return undefined;
  }
  if (!plan.any) return undefined;
  // A CR before the newline belongs to the line ending, not to the last value.
  const body = row.length > 0 && row[row.length - 1] === CR ? row.subarray(0, row.length - 1) : row;
  const spans = format === 'text' ? textFields(body, st.delimiter) : csvFields(body, st);
  if (spans.length !== plan.columns.length * 2) {
    throw new ProtocolError(`COPY row has ${spans.length / 2} fields, the plan ${plan.columns.length}`);
  }
  let out: Buffer[] | undefined;
  let from = 0;
  for (let i = 0; i < plan.columns.length; i++) {
    const m = plan.columns[i];
    if (m === null) continue;
    const s = spans[2 * i];
    const e = spans[2 * i + 1];
    const field = body.subarray(s, e);
    const value = format === 'text' ? textValue(field, st) : csvValue(field, st);
    if (value === null) continue;
    const masked = m.mask(value);
    if (masked === value) continue;
    const written = masked === null ? st.nullText : format === 'text' ? escapeText(masked, st.delimiter) : quoteCsv(masked, st);
    (out ??= []).push(body.subarray(from, s), written);
    from = e;
  }
  if (out === undefined) return undefined;
  out.push(row.subarray(from));
  return Buffer.concat(out);
}

// ---- text format ------------------------------------------------------------------------------

/** Field boundaries as [start, end, start, end, …]. */
function textFields(row: Buffer, delimiter: number): number[] {
  const spans: number[] = [];
  let start = 0;
  for (let i = 0; i < row.length; i++) {
    const b = row[i];
    if (b === BACKSLASH) i++;
    else if (b === delimiter) {
      spans.push(start, i);
      start = i + 1;
    }
  }
  spans.push(start, row.length);
  return spans;
}

/** The value of a text-format field (unescaped), or null for the NULL string. */
function textValue(field: Buffer, st: CopyState): Buffer | null {
  if (field.equals(st.nullText)) return null;
  if (field.indexOf(BACKSLASH) < 0) return field;
  const out = Buffer.allocUnsafe(field.length);
  let n = 0;
  for (let i = 0; i < field.length; i++) {
    const b = field[i];
    if (b !== BACKSLASH || i + 1 >= field.length) {
      out[n++] = b;
      continue;
    }
    const c = field[++i];
    switch (c) {
      case 0x62: out[n++] = 0x08; break; // \b
      case 0x66: out[n++] = 0x0c; break; // \f
      case 0x6e: out[n++] = 0x0a; break; // \n
      case 0x72: out[n++] = 0x0d; break; // \r
      case 0x74: out[n++] = 0x09; break; // \t
      case 0x76: out[n++] = 0x0b; break; // \v
      case 0x78: { // \xh or \xhh
        let v = 0;
        let k = 0;
        while (k < 2 && i + 1 < field.length && isHex(field[i + 1])) v = v * 16 + hexVal(field[++i]), k++;
        out[n++] = k === 0 ? 0x78 : v;
        break;
      }
      default:
        if (c >= 0x30 && c <= 0x37) { // \o, \oo, \ooo
          let v = c - 0x30;
          for (let k = 0; k < 2 && i + 1 < field.length && field[i + 1] >= 0x30 && field[i + 1] <= 0x37; k++) v = v * 8 + (field[++i] - 0x30);
          out[n++] = v & 0xff;
        } else out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const hexVal = (b: number) => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10);

/** Escape a value the way COPY TO writes it (CopyAttributeOutText). */
export function escapeText(v: Buffer, delimiter: number): Buffer {
  const out: number[] = [];
  for (const b of v) {
    switch (b) {
      case 0x08: out.push(BACKSLASH, 0x62); break;
      case 0x0c: out.push(BACKSLASH, 0x66); break;
      case 0x0a: out.push(BACKSLASH, 0x6e); break;
      case 0x0d: out.push(BACKSLASH, 0x72); break;
      case 0x09: out.push(BACKSLASH, 0x74); break;
      case 0x0b: out.push(BACKSLASH, 0x76); break;
      case BACKSLASH: out.push(BACKSLASH, BACKSLASH); break;
      default:
        if (b === delimiter) out.push(BACKSLASH, b);
        else out.push(b);
    }
  }
  return out.length === v.length ? v : Buffer.from(out);
}

// ---- CSV --------------------------------------------------------------------------------------

function csvFields(row: Buffer, st: CopyState): number[] {
  const spans: number[] = [];
  let start = 0;
  let inQuotes = false;
  for (let i = 0; i < row.length; i++) {
    const b = row[i];
    if (inQuotes) {
      if (b === st.escape && st.escape !== st.quote && i + 1 < row.length) i++;
      else if (b === st.quote) inQuotes = false;
    } else if (b === st.quote) inQuotes = true;
    else if (b === st.delimiter) {
      spans.push(start, i);
      start = i + 1;
    }
  }
  spans.push(start, row.length);
  return spans;
}

/** The value of a CSV field (quotes removed), or null when it is the unquoted NULL string. */
function csvValue(field: Buffer, st: CopyState): Buffer | null {
  if (field.indexOf(st.quote) < 0) return field.equals(st.nullText) ? null : field;
  const out = Buffer.allocUnsafe(field.length);
  let n = 0;
  let inQuotes = false;
  for (let i = 0; i < field.length; i++) {
    const b = field[i];
    if (inQuotes) {
      if (b === st.escape && i + 1 < field.length && (field[i + 1] === st.quote || field[i + 1] === st.escape) && (st.escape !== st.quote || field[i + 1] === st.quote)) {
        out[n++] = field[++i];
      } else if (b === st.quote) inQuotes = false;
      else out[n++] = b;
    } else if (b === st.quote) inQuotes = true;
    else out[n++] = b;
  }
  return out.subarray(0, n);
}

/** Always quoted: an empty masked text must not read back as NULL. */
function quoteCsv(v: Buffer, st: CopyState): Buffer {
  const out: number[] = [st.quote];
  for (const b of v) {
    if (b === st.quote || (b === st.escape && st.escape !== st.quote)) out.push(st.escape);
    out.push(b);
  }
  out.push(st.quote);
  return Buffer.from(out);
}
