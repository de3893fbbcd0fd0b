/**
 * Content detection on every form a value can leave in. The detectors (detect.ts) read text; a
 * value reaches the client as text, as bytea (`\x…` hex or escape format, or raw bytes in binary
 * format), as JSON / jsonb (binary jsonb: a version byte, then the text), inside arrays and
 * records, or re-encoded by the query itself (`encode(…, 'base64' | 'hex')`, `\uXXXX` or `%XX`
 * escapes). The masker of one column type and result format decodes what it can, runs the
 * detectors on each decoded view, and then:
 * - text, json, jsonb: masks the found spans in place (a span found only inside an encoded run, or
 *   only after unescaping the whole value, replaces that run or the whole value);
 * - bytea: masks the decoded bytes and encodes the result again in the same form;
 * - anything else that can carry text (arrays, records, xml, inet, user types): NULL when anything
 *   is found, since a value masked inside them could no longer be decoded by the client;
 * - numbers, dates and times, booleans, uuids and other types that cannot hold free text are not
 *   scanned.
 *
 * This is a second line: it finds data of a recognisable shape in the encodings listed here, and
 * nothing a query disguises some other way (`replace(status, '@', ' at ')`, `reverse`, `translate`,
 * arithmetic on digits). Column rules, which follow provenance, are the guarantee.
 */
import { detect } from './detect.ts';
import { DEFAULT_REDACT_TEXT, maskString } from './maskers.ts';
import { OID } from './pg-types.ts';
import type { CellMasker, DetectScope } from './types.ts';
import type { DetectKind } from './schema.ts';

/** How a value of a type carries text. */
export type Carrier = 'text' | 'bytea' | 'json' | 'jsonb' | 'inet' | 'opaque' | 'none';

/**
 * Built-in types that cannot hold free text (pg_type.dat), and arrays of them: not scanned. A
 * phone-like run of digits in a bigint id is not personal data, and NULLing it would break clients.
 */
const NO_TEXT = new Set<number>([
  OID.bool, OID.char, OID.int2, OID.int4, OID.int8, OID.oid, OID.float4, OID.float8, OID.numeric, OID.date, OID.time,
  OID.timestamp, OID.timestamptz, OID.interval, OID.uuid,
  24, 27, 28, 29, 600, 601, 602, 603, 604, 628, 718, 774, 790, 829, 1266, 1560, 1562, 2202, 2203, 2204, 2205, 2206,
  3220, 3734, 3769, 4089, 4096, 4191, 5069,
  // arrays: bool, int2, int4, int8, oid, float4, float8, numeric, date, timestamp, timestamptz, uuid
  1000, 1005, 1007, 1016, 1028, 1021, 1022, 1231, 1182, 1115, 1185, 2951,
]);

const INET = 869;
const CIDR = 650;

export function carrierOf(typeOid: number, textLike: boolean): Carrier {
  if (textLike) return 'text';
  if (typeOid === OID.bytea) return 'bytea';
  if (typeOid === OID.json) return 'json';
  if (typeOid === OID.jsonb) return 'jsonb';
  if (typeOid === INET || typeOid === CIDR) return 'inet';
  if (NO_TEXT.has(typeOid)) return 'none';
  return 'opaque';
}

/** A span of a text holding a finding; `encoded`: found only after decoding the span. */
interface Hit {
  start: number;
  end: number;
  encoded: boolean;
}

/** Nested encodings followed (base64 of hex of …). */
const MAX_DEPTH = 3;
/**
 * Shortest encoded runs worth decoding: 8 bytes (`jo@ex.io`), as 16 hex digits or 11 base64
 * characters. Shorter runs are mostly words, and decoding every word would cost more than the
 * rest of masking together.
 */
const HEX_RUN = /(?:\\x)?[0-9A-Fa-f]{16,}/g;
const B64_RUN = /[A-Za-z0-9+/_-](?:[A-Za-z0-9+/_-]|\r?\n)*={0,2}/g;
const MIN_B64 = 11;
const MIN_DECODED = 8;

/** Whether `s` has a run of base64 characters long enough to decode (one pass, no allocation). */
function hasLongRun(s: string | Buffer): boolean {
  let run = 0;
  const str = typeof s === 'string';
  for (let i = 0; i < s.length; i++) {
    const c = str ? s.charCodeAt(i) : s[i];
    const b64 = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2b || c === 0x2f || c === 0x5f || c === 0x2d;
    if (b64) {
      if (++run >= MIN_B64) return true;
    } else if (c !== 0x0a && c !== 0x0d) run = 0;
  }
  return false;
}

function hexDecode(h: string, from: number): Buffer {
  const n = Math.floor((h.length - from) / 2);
  return Buffer.from(h.slice(from, from + 2 * n), 'hex');
}

/** The decoded forms of an encoded run (each alignment: the run may start mid-group). */
function decodings(run: string, kind: 'hex' | 'b64', depth: number): Buffer[] {
  // Inside a decoded run only the aligned reading is tried: the work stays linear in the value.
  const alignments = depth === 0 ? (kind === 'hex' ? 2 : 4) : 1;
  if (kind === 'hex') {
    const h = run.startsWith('\\x') ? run.slice(2) : run;
    return [hexDecode(h, 0), hexDecode(h, 1)].slice(0, alignments);
  }
  const compact = run.replace(/\r?\n/g, '');
  if (compact.length < MIN_B64) return [];
  const out: Buffer[] = [];
  for (let skip = 0; skip < alignments && compact.length - skip >= MIN_B64; skip++) out.push(Buffer.from(compact.slice(skip), 'base64'));
  return out;
}

/** Text of decoded bytes for the detectors: UTF-8 when valid, else byte for byte. */
function textOf(b: Buffer): string {
  const s = b.toString('utf8');
  return s.includes('\uFFFD') ? b.toString('latin1') : s;
}

function overlaps(hits: readonly Hit[], start: number, end: number): boolean {
  return hits.some((h) => start < h.end && h.start < end);
}

/** Whether anything is found in `s`, directly, in an encoded run or in an unescaped view. */
export function anyFinding(s: string, kinds: ReadonlySet<DetectKind>, depth = 0): boolean {
  return findings(s, kinds, depth).length > 0 || viewsFind(s, kinds, depth);
}

/** The spans of `s` holding a finding: direct detections, then encoded runs that decode to one. */
export function findings(s: string, kinds: ReadonlySet<DetectKind>, depth = 0, bytes?: Buffer): Hit[] {
  const hits: Hit[] = detect(bytes ?? s, kinds).found.map((f) => ({ start: f.start, end: f.end, encoded: false }));
  if (depth >= MAX_DEPTH || !hasLongRun(s)) return hits;
  for (const [re, kind] of [
    [HEX_RUN, 'hex'],
    [B64_RUN, 'b64'],
  ] as const) {
    // matchAll works on a copy of the expression: the recursion below uses the same ones.
    for (const m of s.matchAll(re)) {
      const start = m.index;
      const end = start + m[0].length;
      if (m[0].length < MIN_B64 || overlaps(hits, start, end)) continue;
      if (decodings(m[0], kind, depth).some((b) => b.length >= MIN_DECODED && anyFinding(textOf(b), kinds, depth + 1))) hits.push({ start, end, encoded: true });
    }
  }
  return hits.sort((a, b) => a.start - b.start);
}

const BACKSLASH_ESCAPE = /\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([0-7]{3})|(.))/gs;
const PERCENT = /%[0-9A-Fa-f]{2}/;

/**
 * The value read through the escapes a client may undo: `\uXXXX`, `\xXX`, `\ooo` (bytea escape
 * format, C and JSON escapes) and `%XX` (URL encoding).
 */
function views(s: string): string[] {
  const out: string[] = [];
  if (s.includes('\\')) {
    const bytes: number[] = [];
    let at = 0;
    const push = (text: string) => bytes.push(...Buffer.from(text, 'utf8'));
    for (const m of s.matchAll(BACKSLASH_ESCAPE)) {
      push(s.slice(at, m.index));
      if (m[1] !== undefined) push(String.fromCharCode(parseInt(m[1], 16)));
      else if (m[2] !== undefined) bytes.push(parseInt(m[2], 16));
      else if (m[3] !== undefined) bytes.push(parseInt(m[3], 8) & 0xff);
      else push(m[4]);
      at = m.index + m[0].length;
    }
    push(s.slice(at));
    out.push(textOf(Buffer.from(bytes)));
  }
  if (PERCENT.test(s)) {
    try {
      out.push(decodeURIComponent(s.replace(/%(?![0-9A-Fa-f]{2})/g, '%25')));
    } catch {
      out.push(textOf(Buffer.from(s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1')));
    }
  }
  return out.filter((v) => v !== s);
}

function viewsFind(s: string, kinds: ReadonlySet<DetectKind>, depth: number): boolean {
  if (!s.includes('\\') && !s.includes('%')) return false;
  return views(s).some((v) => findings(v, kinds, depth).length > 0);
}

/** What a span (or a whole value) becomes when its content cannot be masked piecewise. */
function withheldText(d: DetectScope): string | null {
  return d.spec.kind === 'null' ? null : (d.spec.options.text ?? DEFAULT_REDACT_TEXT);
}

/**
 * `s` with every finding masked; `quote` turns a replacement into what may stand at its place
 * (JSON needs escaping inside strings and quoting outside). Null: the value becomes NULL.
 * Undefined: nothing found.
 */
function maskText(s: string, d: DetectScope, key: Buffer | undefined, place: (rep: string, at: number) => string = (r) => r, bytes?: Buffer): string | null | undefined {
  const hits = findings(s, d.kinds, 0, bytes);
  if (hits.length === 0) {
    if (!viewsFind(s, d.kinds, 0)) return undefined;
    const w = withheldText(d);
    return w === null ? null : place(w, -1);
  }
  let out = '';
  let at = 0;
  for (const h of hits) {
    const rep = h.encoded ? withheldText(d) : maskString(d.spec, s.slice(h.start, h.end), key);
    if (rep === null) return null;
    out += s.slice(at, h.start) + place(rep, h.start);
    at = h.end;
  }
  out += s.slice(at);
  // Escapes around what was masked may still spell something out: then withhold it all.
  if (viewsFind(out, d.kinds, 0)) {
    const w = withheldText(d);
    return w === null ? null : place(w, -1);
  }
  return out;
}

/** `s` with every finding masked (clear, encoded or escaped); undefined: nothing found; null: NULL. */
export function maskFoundText(s: string, d: DetectScope, key: Buffer | undefined): string | null | undefined {
  return maskText(s, d, key);
}

/** Raw bytes (bytea) masked as text byte for byte; null = NULL, the same Buffer = unchanged. */
function maskRaw(raw: Buffer, d: DetectScope, key: Buffer | undefined): Buffer | null {
  const utf8 = raw.toString('utf8');
  const valid = !utf8.includes('\uFFFD');
  const s = valid ? utf8 : raw.toString('latin1');
  const out = maskText(s, d, key, (rep) => (valid ? rep : Buffer.from(rep, 'utf8').toString('latin1')));
  if (out === undefined) return raw;
  if (out === null) return null;
  return Buffer.from(out, valid ? 'utf8' : 'latin1');
}

/** Bytea's text forms: `\x` hex, or the escape format (`\\`, `\ooo`, printable bytes as is). */
function byteaDecode(text: string): Buffer | undefined {
  if (text.startsWith('\\x')) return /^[0-9A-Fa-f]*$/.test(text.slice(2)) && text.length % 2 === 0 ? Buffer.from(text.slice(2), 'hex') : undefined;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c) {
      bytes.push(c & 0xff);
      continue;
    }
    if (text[i + 1] === '\\') {
      bytes.push(0x5c);
      i++;
    } else if (/^[0-3][0-7]{2}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else return undefined;
  }
  return Buffer.from(bytes);
}

function byteaEncode(raw: Buffer, hex: boolean): Buffer {
  if (hex) return Buffer.from(`\\x${raw.toString('hex')}`, 'latin1');
  let s = '';
  for (const b of raw) s += b === 0x5c ? '\\\\' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`;
  return Buffer.from(s, 'latin1');
}

/** Whether position `at` of a JSON text is inside a string literal. */
function insideJsonString(s: string, at: number): boolean {
  let inside = false;
  for (let i = 0; i < at; i++) {
    const c = s[i];
    if (inside && c === '\\') i++;
    else if (c === '"') inside = !inside;
  }
  return inside;
}

function maskJson(s: string, d: DetectScope, key: Buffer | undefined): string | null | undefined {
  return maskText(s, d, key, (rep, at) => (at >= 0 && insideJsonString(s, at) ? JSON.stringify(rep).slice(1, -1) : JSON.stringify(rep)));
}

/** inet / cidr binary form → the address as text (IPv6 uncompressed), for the detectors. */
function inetText(v: Buffer): string {
  if (v.length < 4) return '';
  const nb = v[3];
  const addr = v.subarray(4, 4 + nb);
  if (nb === 4) return [...addr].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < addr.length; i += 2) groups.push(addr.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/**
 * The content-detection masker for a value of this type and result format; undefined when the
 * type cannot carry text.
 */
export function contentMasker(d: DetectScope, key: Buffer | undefined, typeOid: number, format: 0 | 1, textLike: boolean): CellMasker | undefined {
  const carrier = carrierOf(typeOid, textLike);
  const label = `${d.spec.kind} (content detection)`;
  if (carrier === 'none') return undefined;
  if (d.kinds.size === 0) return { label, mask: (v) => v };
  switch (carrier) {
    case 'text':
      return {
        label,
        mask(v) {
          // Hot path: nothing to decode and nothing found in the bytes as they are.
          if (!hasLongRun(v) && !v.includes(0x5c) && !v.includes(0x25) && detect(v, d.kinds).found.length === 0) return v;
          const out = maskText(v.toString('utf8'), d, key, undefined, v);
          return out === undefined ? v : out === null ? null : Buffer.from(out, 'utf8');
        },
      };
    case 'bytea':
      return {
        label,
        mask(v) {
          if (format === 1) return maskRaw(v, d, key);
          const text = v.toString('latin1');
          const raw = byteaDecode(text);
          // Not a form of bytea this masker knows: nothing may pass that it could not read.
          if (!raw) return anyFinding(text, d.kinds) ? null : v;
          const out = maskRaw(raw, d, key);
          return out === raw ? v : out === null ? null : byteaEncode(out, text.startsWith('\\x'));
        },
      };
    case 'json':
    case 'jsonb':
      return {
        label,
        mask(v) {
          const versioned = carrier === 'jsonb' && format === 1;
          if (versioned && v[0] !== 1) return anyFinding(v.toString('latin1'), d.kinds) ? null : v;
          const body = versioned ? v.subarray(1) : v;
          const out = maskJson(body.toString('utf8'), d, key);
          if (out === undefined) return v;
          if (out === null) return null;
          const text = Buffer.from(out, 'utf8');
          return versioned ? Buffer.concat([v.subarray(0, 1), text]) : text;
        },
      };
    case 'inet':
      return { label, mask: (v) => (anyFinding(format === 1 ? inetText(v) : v.toString('latin1'), d.kinds) ? null : v) };
    case 'opaque':
      // Arrays, records, xml, user types: binary forms hold their text parts as bytes.
      return { label, mask: (v) => (anyFinding(v.toString(format === 1 ? 'latin1' : 'utf8'), d.kinds) || (format === 1 && anyFinding(v.toString('utf8'), d.kinds)) ? null : v) };
  }
}
