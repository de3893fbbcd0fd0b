/**
 * The maskers: each turns one cell's bytes into masked bytes (or NULL) for one column type and
 * one result format.
 *
 * Text-like types (text, varchar, bpchar, name, unknown, citext) send the same bytes in text and
 * binary format, so their maskers are format-independent. Any other type: only `fake` produces a
 * value (int2/4/8, numeric, float4/8, date, uuid), the same in both formats: in binary format the
 * cell is decoded to its text, faked as in text format and encoded as the type's send function
 * would (binary-fake.ts). Everything else is NULL in both formats: a masked binary value must be
 * exactly what the type's send function writes, and a wrong guess corrupts the client's decoder.
 *
 * Hot path: `redact` and `null` return constants without reading the cell; partial, email, phone,
 * hash and fake work on the cell's bytes without decoding it to a string (UTF-8 characters are
 * counted by their lead bytes).
 */
import { createHmac } from 'node:crypto';
import { binaryFake, floatFits } from './binary-fake.ts';
import { INT_DIGITS, OID } from './pg-types.ts';
import type { MaskerOptions } from './schema.ts';
import type { CellMasker, MaskerSpec } from './types.ts';

export const DEFAULT_REDACT_TEXT = '****';

const NULL_MASKER_FN = (): null => null;

/** A masker that always gives SQL NULL. */
export function nullMasker(label: string): CellMasker {
  return { label, mask: NULL_MASKER_FN, fixed: null };
}

/** A masker that always gives the same bytes. */
export function constantMasker(label: string, text: string): CellMasker {
  const out = Buffer.from(text, 'utf8');
  return { label, mask: () => out, fixed: out };
}

/**
 * Build the masker of `spec` for a value of type `typeOid` in `format`. `key` is required for
 * `hash` and `fake` (the schema refuses a configuration that uses them without one); without it
 * they fall back to NULL rather than to an unkeyed, guessable digest.
 */
export function buildMasker(spec: MaskerSpec, typeOid: number, format: 0 | 1, textLike: boolean, key: Buffer | undefined, label: string): CellMasker {
  const o = spec.options;
  if (!textLike) {
    if (spec.kind === 'fake' && key) {
      const typed = typedFake(typeOid, key);
      const mask = typed && (format === 0 ? typed : binaryFake(typeOid, typed));
      if (mask) return { label, mask };
    }
    return nullMasker(label);
  }
  switch (spec.kind) {
    case 'redact':
      return constantMasker(label, o.text ?? DEFAULT_REDACT_TEXT);
    case 'null':
      return nullMasker(label);
    case 'partial':
      return { label, mask: (v) => partialBytes(v, o) };
    case 'email': {
      const hidden = Buffer.from(o.text ?? '***', 'utf8');
      return {
        label,
        mask: (v) => emailBytes(v, o, hidden),
        writeTo: (src, start, end, dst, at) => emailInto(src, start, end, o, hidden, dst, at),
        growth: 2 * hidden.length + 1,
      };
    }
    case 'phone':
      return phoneMasker(label, o);
    case 'hash':
      return key ? hashMasker(label, key, o, typeOid === OID.bpchar) : nullMasker(label);
    case 'fake':
      return key ? { label, mask: (v) => fakeTextBytes(v, key) } : nullMasker(label);
    default:
      return nullMasker(label);
  }
}

/** Apply a spec to a string (content detection masks the matched parts of a text). */
export function maskString(spec: MaskerSpec, s: string, key: Buffer | undefined): string | null {
  const o = spec.options;
  switch (spec.kind) {
    case 'redact':
      return o.text ?? DEFAULT_REDACT_TEXT;
    case 'null':
      return null;
    case 'partial':
      return partialText(s, o);
    case 'email':
      return emailText(s, o);
    case 'phone':
      return phoneBytes(Buffer.from(s, 'utf8'), o).toString('utf8');
    case 'hash':
      return key ? hashBytes(Buffer.from(s, 'utf8'), key, o) : null;
    case 'fake':
      return key ? fakeTextBytes(Buffer.from(s, 'utf8'), key).toString('utf8') : null;
    default:
      return null;
  }
}

// ---- partial and email (on bytes: UTF-8 characters counted by their lead bytes) --------------

const isLead = (b: number) => (b & 0xc0) !== 0x80;

/** Number of characters (code points) in UTF-8 bytes. */
function charCount(v: Buffer, from = 0, to = v.length): number {
  let n = 0;
  for (let i = from; i < to; i++) if (isLead(v[i])) n++;
  return n;
}

/** Byte offset of character `k` in v[from, to) (to when there are fewer characters). */
function charOffset(v: Buffer, k: number, from = 0, to = v.length): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    if (isLead(v[i])) {
      if (n === k) return i;
      n++;
    }
  }
  return to;
}

function fillBytes(o: MaskerOptions, hidden: number): Buffer {
  return Buffer.from(o.text ?? (o.mask_char ?? '*').repeat(hidden), 'utf8');
}

/**
 * Keep the first and last characters, hide the middle. When keeping them would leave nothing
 * hidden, everything is hidden: a short value MUST NOT pass in clear.
 */
export function partialBytes(v: Buffer, o: MaskerOptions): Buffer {
  const first = o.keep_first ?? 1;
  const last = o.keep_last ?? 0;
  const n = charCount(v);
  if (n === 0) return v;
  if (first + last >= n) return fillBytes(o, n);
  const head = charOffset(v, first);
  const tail = charOffset(v, n - last);
  return Buffer.concat([v.subarray(0, head), fillBytes(o, n - first - last), v.subarray(tail)]);
}

export function partialText(s: string, o: MaskerOptions): string {
  return partialBytes(Buffer.from(s, 'utf8'), o).toString('utf8');
}

const AT = 0x40;

/** `jane.doe@example.com` → `j***@example.com`. A value that is not an address is hidden whole. */
export function emailBytes(v: Buffer, o: MaskerOptions, hidden: Buffer = Buffer.from(o.text ?? '***', 'utf8')): Buffer {
  // Byte loops rather than lastIndexOf / copy: cells are short, and a call into C++ per cell
  // costs more than it saves.
  const n = v.length;
  let at = n - 1;
  while (at >= 0 && v[at] !== AT) at--;
  if (at <= 0 || at === n - 1) return hidden;
  const first = o.keep_first ?? 1;
  const kept = charCount(v, 0, at) > first ? charOffset(v, first, 0, at) : 0;
  const keepDomain = o.keep_domain !== false;
  const domainLen = keepDomain ? n - at - 1 : hidden.length;
  const hl = hidden.length;
  const out = Buffer.allocUnsafe(kept + hl + 1 + domainLen);
  for (let i = 0; i < kept; i++) out[i] = v[i];
  for (let i = 0; i < hl; i++) out[kept + i] = hidden[i];
  let p = kept + hl;
  out[p++] = AT;
  if (keepDomain) for (let i = at + 1; i < n; i++) out[p++] = v[i];
  else for (let i = 0; i < hl; i++) out[p++] = hidden[i];
  return out;
}

/**
 * `emailBytes` of `src[start, end)`, written into `dst` from `at`; returns where it ends. The
 * result is at most `2 * hidden.length + 1` bytes longer than the value.
 */
export function emailInto(src: Buffer, start: number, end: number, o: MaskerOptions, hidden: Buffer, dst: Buffer, at: number): number {
  const hl = hidden.length;
  let sign = end - 1;
  while (sign >= start && src[sign] !== AT) sign--;
  let p = at;
  if (sign <= start || sign === end - 1) {
    for (let i = 0; i < hl; i++) dst[p++] = hidden[i];
    return p;
  }
  const first = o.keep_first ?? 1;
  const kept = charCount(src, start, sign) > first ? charOffset(src, first, start, sign) - start : 0;
  for (let i = 0; i < kept; i++) dst[p++] = src[start + i];
  for (let i = 0; i < hl; i++) dst[p++] = hidden[i];
  dst[p++] = AT;
  if (o.keep_domain !== false) for (let i = sign + 1; i < end; i++) dst[p++] = src[i];
  else for (let i = 0; i < hl; i++) dst[p++] = hidden[i];
  return p;
}

export function emailText(s: string, o: MaskerOptions): string {
  return emailBytes(Buffer.from(s, 'utf8'), o).toString('utf8');
}

// ---- phone ------------------------------------------------------------------------------------

/**
 * Replace every digit but the last `keep_last` (default 2) with `mask_char`, keeping punctuation:
 * `+1 (555) 123-4567` → `+* (***) ***-**67`. A number with fewer than keep_last + 4 digits is
 * hidden whole (the kept digits would be most of it).
 */
export function phoneBytes(v: Buffer, o: MaskerOptions): Buffer {
  const keep = o.keep_last ?? 2;
  const fill = (o.mask_char ?? '*').charCodeAt(0);
  let digits = 0;
  for (let i = 0; i < v.length; i++) if (v[i] >= 0x30 && v[i] <= 0x39) digits++;
  if (digits === 0) return v;
  const hide = digits >= keep + 4 ? digits - keep : digits;
  const out = Buffer.from(v);
  let seen = 0;
  for (let i = 0; i < out.length && seen < hide; i++) {
    if (out[i] >= 0x30 && out[i] <= 0x39) {
      out[i] = fill < 0x80 ? fill : 0x2a;
      seen++;
    }
  }
  return out;
}

function phoneMasker(label: string, o: MaskerOptions): CellMasker {
  return { label, mask: (v) => phoneBytes(v, o) };
}

// ---- keyed maskers ----------------------------------------------------------------------------

/** Domain-separation bytes: a hash output never equals the fake stream of the same value. */
const DOMAIN_HASH = 0x68; // 'h'
const DOMAIN_FAKE = 0x66; // 'f'

/** HMAC-SHA256 output stream of at least `n` bytes for `value`. */
function keyedStream(key: Buffer, domain: number, value: Buffer, n: number): Buffer {
  const blocks: Buffer[] = [];
  const head = Buffer.alloc(5);
  head[0] = domain;
  for (let i = 0; blocks.length * 32 < n; i++) {
    head.writeUInt32BE(i, 1);
    blocks.push(createHmac('sha256', key).update(head).update(value).digest());
  }
  return blocks.length === 1 ? blocks[0] : Buffer.concat(blocks);
}

/** bpchar compares without trailing blanks: hash it the same way so joins with text still match. */
function trimBlanks(v: Buffer): Buffer {
  let end = v.length;
  while (end > 0 && v[end - 1] === 0x20) end--;
  return end === v.length ? v : v.subarray(0, end);
}

export function hashBytes(v: Buffer, key: Buffer, o: MaskerOptions): string {
  const digest = createHmac('sha256', key).update(Buffer.of(DOMAIN_HASH)).update(v).digest();
  const length = o.length ?? 16;
  return (o.encoding === 'base64' ? digest.toString('base64url') : digest.toString('hex')).slice(0, length);
}

function hashMasker(label: string, key: Buffer, o: MaskerOptions, bpchar: boolean): CellMasker {
  return { label, mask: (v) => Buffer.from(hashBytes(bpchar ? trimBlanks(v) : v, key, o), 'latin1') };
}

/**
 * Format-preserving fake of a text: ASCII digits stay digits, ASCII letters stay letters of the
 * same case, any non-ASCII character becomes one lower-case ASCII letter (its script would tell
 * something about the value), punctuation and spaces stay. Deterministic: same value, same fake.
 */
export function fakeTextBytes(v: Buffer, key: Buffer): Buffer {
  if (v.length === 0) return v;
  const s = keyedStream(key, DOMAIN_FAKE, v, v.length);
  const out = Buffer.allocUnsafe(v.length);
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (b >= 0x30 && b <= 0x39) out[n++] = 0x30 + (s[i] % 10);
    else if (b >= 0x61 && b <= 0x7a) out[n++] = 0x61 + (s[i] % 26);
    else if (b >= 0x41 && b <= 0x5a) out[n++] = 0x41 + (s[i] % 26);
    else if (b >= 0xc0) out[n++] = 0x61 + (s[i] % 26);
    else if (b >= 0x80) continue; // continuation byte of the character just replaced
    else out[n++] = b;
  }
  return n === v.length ? out : out.subarray(0, n);
}

/** A text-format fake that is a valid literal of the type, or undefined when the type has none. */
function typedFake(typeOid: number, key: Buffer): ((v: Buffer) => Buffer | null) | undefined {
  const maxDigits = INT_DIGITS.get(typeOid);
  if (maxDigits !== undefined) return (v) => fakeInteger(v, key, maxDigits);
  switch (typeOid) {
    case OID.numeric:
      return (v) => fakeDecimal(v, key);
    case OID.float4:
    case OID.float8: {
      // A fake past the type's range (3.4e+38 made 9.1e+38) is not a value of the type: NULL, as
      // in binary format, rather than a literal the client cannot read.
      const single = typeOid === OID.float4;
      return (v) => {
        const f = fakeDecimal(v, key);
        return f === null || f === v || floatFits(f.toString('latin1'), single) ? f : null;
      };
    }
    case OID.date:
      return (v) => fakeDate(v, key);
    case OID.uuid:
      return (v) => fakeUuid(v, key);
    default:
      return undefined;
  }
}

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

/** Same sign and digit count; no leading zero; a value of the type's full width starts with 1. */
function fakeInteger(v: Buffer, key: Buffer, maxDigits: number): Buffer | null {
  const neg = v[0] === 0x2d ? 1 : 0;
  const digits = v.length - neg;
  if (digits === 0) return null;
  for (let i = neg; i < v.length; i++) if (!isDigit(v[i])) return null;
  const s = keyedStream(key, DOMAIN_FAKE, v, v.length);
  const out = Buffer.from(v);
  for (let i = neg; i < v.length; i++) out[i] = 0x30 + (s[i] % 10);
  if (digits > 1) out[neg] = digits >= maxDigits ? 0x31 : 0x31 + (s[neg] % 9);
  return out;
}

/** Digits of the mantissa replaced (same counts, so precision and scale still fit); NaN / Infinity pass. */
function fakeDecimal(v: Buffer, key: Buffer): Buffer | null {
  const text = v.toString('latin1');
  const m = /^(-?)(\d*)(?:\.(\d*))?([eE][-+]?\d+)?$/.exec(text);
  if (!m) return /^-?(NaN|Infinity)$/.test(text) ? v : null;
  const s = keyedStream(key, DOMAIN_FAKE, v, v.length);
  const out = Buffer.from(v);
  const start = m[1].length;
  const mantissaEnd = m[4] === undefined ? v.length : v.length - m[4].length;
  for (let i = start; i < mantissaEnd; i++) if (isDigit(out[i])) out[i] = 0x30 + (s[i] % 10);
  if (m[2].length > 1) out[start] = 0x31 + (s[start] % 9);
  return out;
}

/** An ISO date (DateStyle ISO, the default) becomes another valid date; other styles go to NULL. */
function fakeDate(v: Buffer, key: Buffer): Buffer | null {
  const text = v.toString('latin1');
  if (text === 'infinity' || text === '-infinity') return v;
  if (!/^\d{4}-\d{2}-\d{2}( BC)?$/.test(text)) return null;
  const s = keyedStream(key, DOMAIN_FAKE, v, 8);
  const year = 1930 + (s.readUInt16BE(0) % 80);
  const month = 1 + (s[2] % 12);
  const day = 1 + (s[3] % 28);
  return Buffer.from(`${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`, 'latin1');
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

function fakeUuid(v: Buffer, key: Buffer): Buffer | null {
  if (v.length !== 36) return null;
  const s = keyedStream(key, DOMAIN_FAKE, v, 36);
  const out = Buffer.from(v);
  for (let i = 0; i < out.length; i++) if (out[i] !== 0x2d) out[i] = HEX[s[i] % 16];
  return out;
}
