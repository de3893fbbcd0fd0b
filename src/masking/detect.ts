/**
 * Content detectors: find personal data inside text values of columns no rule names (a `notes`
 * column holding an e-mail address, a card number pasted into a comment).
 *
 * This runs on every text value it is enabled for, so each value is first scanned once, byte by
 * byte, for cheap evidence (how many digits, an `@`, dots, colons, an upper-case letter followed
 * by a digit); a detector's regular expression runs only when its evidence is there. Candidates
 * are then checked the way the data is defined: card numbers by Luhn, IBANs by mod-97, SSNs by
 * their reserved ranges, IP addresses by their grammar.
 */
import type { DetectKind } from './schema.ts';

export interface Detection {
  kind: DetectKind;
  start: number;
  end: number;
}

interface Evidence {
  digits: number;
  at: boolean;
  dots: number;
  colons: number;
  upperThenDigit: boolean;
}

function evidence(v: Buffer): Evidence {
  let digits = 0;
  let at = false;
  let dots = 0;
  let colons = 0;
  let upperThenDigit = false;
  let prevUpper = false;
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (b >= 0x30 && b <= 0x39) {
      digits++;
      if (prevUpper) upperThenDigit = true;
    } else if (b === 0x40) at = true;
    else if (b === 0x2e) dots++;
    else if (b === 0x3a) colons++;
    prevUpper = b >= 0x41 && b <= 0x5a;
  }
  return { digits, at, dots, colons, upperThenDigit };
}

function wanted(e: Evidence, kinds: ReadonlySet<DetectKind>): DetectKind[] {
  const out: DetectKind[] = [];
  if (kinds.has('email') && e.at && e.dots > 0) out.push('email');
  if (kinds.has('credit_card') && e.digits >= 13) out.push('credit_card');
  if (kinds.has('iban') && e.upperThenDigit && e.digits >= 8) out.push('iban');
  if (kinds.has('national_id') && e.digits >= 9) out.push('national_id');
  if (kinds.has('ip') && ((e.digits >= 4 && e.dots >= 3) || e.colons >= 2)) out.push('ip');
  // Phone last: a card number or IBAN is also a long run of digits, and the earlier, stricter
  // detectors claim those spans first.
  if (kinds.has('phone') && e.digits >= 7) out.push('phone');
  return out;
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}/g;
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g;
const SSN = /(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])/g;
const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
const IPV6 = /(?<![\w:.])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?:\d+\.\d+\.\d+\.\d+)?(?![\w:]|\.\d)/g;
const PHONE = /(?<![\w+.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w|[.,]\d)/g;
const digitsOf = (s: string) => s.replace(/[^0-9]/g, '');
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A phone number: 7 to 15 digits (E.164) written with separators, a `+` or an area code in
 * parentheses; a bare run of digits only from 10 digits on (shorter bare runs are mostly ids and
 * amounts). ISO dates are not phone numbers.
 */
function phoneValid(text: string): boolean {
  const d = digitsOf(text).length;
  if (d < 7 || d > 15 || ISO_DATE.test(text)) return false;
  return d >= 10 || d !== text.length;
}

/** Luhn checksum of a run of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1. */
export function ibanValid(compact: string): boolean {
  if (compact.length < 15 || compact.length > 34) return false;
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

/** US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000. */
function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

function ipv4Valid(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => p.length > 0 && Number(p) <= 255 && (p.length === 1 || p[0] !== '0'));
}

/** RFC 4291 text form, with `::` at most once and an optional IPv4 tail. `::` alone is no address worth hiding. */
export function ipv6Valid(s: string): boolean {
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    if (!ipv4Valid(text.slice(lastColon + 1))) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...rest];
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const n = all.length;
  return halves.length === 2 ? n > 0 && n < 8 : n === 8;
}

function scan(re: RegExp, s: string, kind: DetectKind, check: (m: RegExpExecArray) => boolean, out: Detection[]): void {
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (check(m)) out.push({ kind, start: m.index, end: m.index + m[0].length });
  }
}


/**
 * Every detection in `value` (a string, or a cell's UTF-8 bytes: then the bytes are decoded only
 * when the evidence scan says a detector could match), non-overlapping, in order of position.
 * When two detectors claim overlapping spans the earlier kind in the order card, IBAN, SSN,
 * e-mail, IP, phone wins. Offsets are UTF-16 indexes into the decoded text (`text`).
 */
export function detect(value: string | Buffer, kinds: ReadonlySet<DetectKind>): { text: string; found: Detection[] } {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const want = bytes.length < 6 ? [] : wanted(evidence(bytes), kinds);
  if (want.length === 0) return { text: typeof value === 'string' ? value : '', found: [] };
  const s = typeof value === 'string' ? value : value.toString('utf8');
  const found: Detection[] = [];
  const has = (k: DetectKind) => want.includes(k);
  if (has('credit_card')) scan(CARD, s, 'credit_card', (m) => luhnValid(digitsOf(m[0])), found);
  if (has('iban')) scan(IBAN, s, 'iban', (m) => ibanValid(m[0].replace(/ /g, '')), found);
  if (has('national_id')) scan(SSN, s, 'national_id', (m) => ssnValid(m[1], m[2], m[3]), found);
  if (has('email')) scan(EMAIL, s, 'email', () => true, found);
  if (has('ip')) {
    scan(IPV6, s, 'ip', (m) => ipv6Valid(m[0]), found); // first: it claims an IPv4-mapped tail whole
    scan(IPV4, s, 'ip', (m) => ipv4Valid(m[0]), found);
  }
  if (has('phone')) scan(PHONE, s, 'phone', (m) => phoneValid(m[0]), found);
  return { text: s, found: resolveOverlaps(found) };
}

/** Keep the first-found of overlapping spans (detectors run strictest first), sorted by start. */
function resolveOverlaps(found: Detection[]): Detection[] {
  const kept: Detection[] = [];
  for (const d of found) if (!kept.some((k) => d.start < k.end && k.start < d.end)) kept.push(d);
  return kept.sort((a, b) => a.start - b.start);
}
