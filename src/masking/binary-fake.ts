/**
 * `fake` in binary result format, for the types whose binary form can be written exactly as the
 * server's send function writes it.
 *
 * The fake of a value MUST be the same in both formats: a driver switches a prepared statement to
 * binary results after a few executions (pgJDBC's prepareThreshold), and joins or grouping on
 * faked values in the application must still agree. So the binary cell is decoded to the text
 * the server would have sent for it (`int4out`, `float8out`, `numeric_out`, `date_out` in
 * DateStyle ISO, `uuid_out`), the text-format fake is computed from that text, and the fake is
 * encoded back as the type's send function would encode the fake text cast to the type
 * (`int4send`, `float8send`, `numeric_send` …).
 *
 * Fail closed: a cell of the wrong length, a value whose text the text-format fake refuses, or a
 * fake the type cannot hold (a float that overflows) gives NULL, never the clear cell. A type not
 * listed here (bool, time, timestamp, interval, arrays, …) has no binary fake: the caller uses NULL.
 *
 * Float text is the shortest exact form the server prints with `extra_float_digits` ≥ 1 (the
 * default since PostgreSQL 12; pgJDBC sets 3). A session that lowers it to 0 or less gets
 * rounded float text, so its text-format fakes differ from the binary ones.
 */
import { float4Binary, float8Binary, floatText } from './float-text.ts';
import { OID } from './pg-types.ts';

/** The text-format fake of one type: the value's text in, the fake's text out (the same Buffer when it passes). */
export type TextFake = (text: Buffer) => Buffer | null;

interface BinaryCodec {
  /** The server's text output of the binary cell, or null when the cell is not a valid value. */
  toText(cell: Buffer): string | null;
  /** The binary cell of the text (as `type_in` then `type_send`), or null when the type cannot hold it. */
  fromText(text: string): Buffer | null;
}

/** The binary-format `fake` of `typeOid` built on its text-format fake, or undefined when the type has none. */
export function binaryFake(typeOid: number, textFake: TextFake): ((cell: Buffer) => Buffer | null) | undefined {
  const codec = CODECS.get(typeOid);
  if (codec === undefined) return undefined;
  return (cell) => {
    const text = codec.toText(cell);
    if (text === null) return null;
    const clear = Buffer.from(text, 'latin1');
    const fake = textFake(clear);
    if (fake === null) return null;
    if (fake === clear) return cell; // NaN, infinity: the text fake passes them, so does this
    return codec.fromText(fake.toString('latin1'));
  };
}

/** Can float4in / float8in read the text (not past the type's range, nor a non-zero value that underflows to 0)? */
export function floatFits(text: string, single: boolean): boolean {
  return (single ? float4Binary(text) : float8Binary(text)) !== null;
}

/** The text the server prints for a binary cell of a type with a binary fake (null: not a valid cell). */
export function binaryCellText(typeOid: number, cell: Buffer): string | null {
  return CODECS.get(typeOid)?.toText(cell) ?? null;
}

// ---- integers ---------------------------------------------------------------------------------

function intCodec(size: 2 | 4 | 8): BinaryCodec {
  const bits = BigInt(size * 8);
  const max = (1n << (bits - 1n)) - 1n;
  const min = -(1n << (bits - 1n));
  return {
    toText(cell) {
      if (cell.length !== size) return null;
      return size === 2 ? String(cell.readInt16BE(0)) : size === 4 ? String(cell.readInt32BE(0)) : String(cell.readBigInt64BE(0));
    },
    fromText(text) {
      if (!/^-?\d+$/.test(text)) return null;
      const v = BigInt(text);
      if (v > max || v < min) return null;
      const out = Buffer.allocUnsafe(size);
      if (size === 2) out.writeInt16BE(Number(v), 0);
      else if (size === 4) out.writeInt32BE(Number(v), 0);
      else out.writeBigInt64BE(v, 0);
      return out;
    },
  };
}

// ---- numeric ----------------------------------------------------------------------------------

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;
const NBASE_DIGITS = 4;

/** `numeric_out` of a `numeric_send` cell: ndigits, weight, sign, dscale, then base-10000 digits. */
export function numericText(cell: Buffer): string | null {
  if (cell.length < 8) return null;
  const ndigits = cell.readInt16BE(0);
  const weight = cell.readInt16BE(2);
  const sign = cell.readUInt16BE(4);
  const dscale = cell.readUInt16BE(6);
  if (ndigits < 0 || cell.length !== 8 + 2 * ndigits || dscale > 0x3fff) return null;
  if (sign === NUMERIC_NAN) return 'NaN';
  if (sign === NUMERIC_PINF) return 'Infinity';
  if (sign === NUMERIC_NINF) return '-Infinity';
  if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) return null;
  const digit = (i: number): number => (i >= 0 && i < ndigits ? cell.readInt16BE(8 + 2 * i) : 0);
  for (let i = 0; i < ndigits; i++) if (digit(i) < 0 || digit(i) > 9999) return null;
  let s = sign === NUMERIC_NEG ? '-' : '';
  if (weight < 0) s += '0';
  else {
    s += String(digit(0));
    for (let i = 1; i <= weight; i++) s += String(digit(i)).padStart(NBASE_DIGITS, '0');
  }
  if (dscale > 0) {
    let frac = '';
    for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(NBASE_DIGITS, '0');
    s += '.' + frac.slice(0, dscale);
  }
  return s;
}

/**
 * `numeric_send` of the text read by `numeric_in` (plain decimal, no exponent): base-10000 digits
 * aligned on the decimal point, leading and trailing zero digits stripped, dscale the number of
 * fraction digits written; zero is positive with weight 0, as make_result stores it.
 */
export function numericBinary(text: string): Buffer | null {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const intPart = m[2];
  const fracPart = m[3] ?? '';
  const dscale = fracPart.length;
  if (dscale > 0x3fff) return null;
  // Pad to whole groups: the integer part on the left, the fraction on the right.
  const intPadded = '0'.repeat((NBASE_DIGITS - (intPart.length % NBASE_DIGITS)) % NBASE_DIGITS) + intPart;
  const fracPadded = fracPart + '0'.repeat((NBASE_DIGITS - (fracPart.length % NBASE_DIGITS)) % NBASE_DIGITS);
  const groups: number[] = [];
  for (let i = 0; i < intPadded.length; i += NBASE_DIGITS) groups.push(Number(intPadded.slice(i, i + NBASE_DIGITS)));
  const intGroups = groups.length;
  for (let i = 0; i < fracPadded.length; i += NBASE_DIGITS) groups.push(Number(fracPadded.slice(i, i + NBASE_DIGITS)));
  let first = 0;
  while (first < groups.length && groups[first] === 0) first++;
  let last = groups.length;
  while (last > first && groups[last - 1] === 0) last--;
  const digits = groups.slice(first, last);
  const zero = digits.length === 0;
  const weight = zero ? 0 : intGroups - 1 - first;
  if (digits.length > 0x7fff || weight > 0x7fff || weight < -0x8000) return null;
  const out = Buffer.allocUnsafe(8 + 2 * digits.length);
  out.writeInt16BE(digits.length, 0);
  out.writeInt16BE(weight, 2);
  out.writeUInt16BE(zero || m[1] === '' ? NUMERIC_POS : NUMERIC_NEG, 4);
  out.writeUInt16BE(dscale, 6);
  digits.forEach((d, i) => out.writeInt16BE(d, 8 + 2 * i));
  return out;
}

const numericCodec: BinaryCodec = { toText: numericText, fromText: numericBinary };

// ---- date -------------------------------------------------------------------------------------

/** date_send: days since 2000-01-01; INT32_MIN and INT32_MAX are -infinity and infinity. */
const DATE_MIN = -0x80000000;
const DATE_MAX = 0x7fffffff;
/** 2000-01-01 in days since 0000-03-01 of the proleptic Gregorian calendar (see civil below). */
const EPOCH_2000 = 730_425;

/** Year (astronomical: 0 is 1 BC), month and day of a day number counted from 0000-03-01. */
function civil(n: number): [number, number, number] {
  const era = Math.floor(n / 146_097);
  const doe = n - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, doy - Math.floor((153 * mp + 2) / 5) + 1];
}

/** The inverse of civil. */
function dayNumber(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
}

/** `date_out` in DateStyle ISO: `YYYY-MM-DD`, or the year before 1 AD as `YYYY-MM-DD BC`. */
export function dateText(cell: Buffer): string | null {
  if (cell.length !== 4) return null;
  const days = cell.readInt32BE(0);
  if (days === DATE_MAX) return 'infinity';
  if (days === DATE_MIN) return '-infinity';
  const [y, m, d] = civil(days + EPOCH_2000);
  const year = y > 0 ? y : 1 - y;
  return `${String(year).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}${y > 0 ? '' : ' BC'}`;
}

export function dateBinary(text: string): Buffer | null {
  const m = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/.exec(text);
  if (!m) return null;
  const year = m[4] ? 1 - Number(m[1]) : Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const n = dayNumber(year, month, day);
  const [y2, m2, d2] = civil(n);
  if (y2 !== year || m2 !== month || d2 !== day) return null; // no such day (2001-02-29)
  const days = n - EPOCH_2000;
  if (days <= DATE_MIN || days >= DATE_MAX) return null;
  const out = Buffer.allocUnsafe(4);
  out.writeInt32BE(days, 0);
  return out;
}

// ---- uuid -------------------------------------------------------------------------------------

const uuidCodec: BinaryCodec = {
  toText(cell) {
    if (cell.length !== 16) return null;
    const h = cell.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  },
  fromText(text) {
    const h = text.replace(/-/g, '');
    return /^[0-9a-f]{32}$/.test(h) ? Buffer.from(h, 'hex') : null;
  },
};

const float4Codec: BinaryCodec = {
  toText: (cell) => (cell.length === 4 ? floatText(cell.readFloatBE(0), true) : null),
  fromText: float4Binary,
};

const float8Codec: BinaryCodec = {
  toText: (cell) => (cell.length === 8 ? floatText(cell.readDoubleBE(0), false) : null),
  fromText: float8Binary,
};

const CODECS: ReadonlyMap<number, BinaryCodec> = new Map([
  [OID.int2, intCodec(2)],
  [OID.int4, intCodec(4)],
  [OID.int8, intCodec(8)],
  [OID.float4, float4Codec],
  [OID.float8, float8Codec],
  [OID.numeric, numericCodec],
  [OID.date, { toText: dateText, fromText: dateBinary }],
  [OID.uuid, uuidCodec],
]);
