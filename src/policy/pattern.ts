/**
 * Name patterns as policies write them: dotted SQL identifiers (`public.orders`,
 * `public.customers.ssn`, `sales.*`) in which `*` matches any run of characters within one part.
 *
 * Each part is read the way PostgreSQL reads an identifier, so a policy names exactly what SQL
 * would name: an unquoted part folds to lower case (`Public.Orders` is `public.orders`), a
 * double-quoted part keeps its case and may hold dots or a literal `*` (`public."Order.Lines"`,
 * with `""` for a quote). The analysis gives names as stored (already folded), so matching is an
 * exact comparison. Folding matters for safety: a deny written `public.Customers` MUST still deny
 * the table every unquoted query calls `customers`.
 */

/** One compiled part of a pattern. */
export interface Glob {
  /** The part as it matches (folded, unquoted), for messages and exact-entry checks. */
  readonly text: string;
  /** True when the part contains an unquoted `*`. */
  readonly wild: boolean;
  test(value: string): boolean;
}

/** A compiled dotted pattern: one glob per part. */
export interface NamePattern {
  /** The pattern as written in the policy. */
  readonly source: string;
  readonly parts: readonly Glob[];
  /** True when any part is a wildcard. */
  readonly wild: boolean;
}

interface RawPart {
  text: string;
  quoted: boolean;
}

/**
 * Split a dotted pattern into parts. Returns a problem sentence (without echoing the value) when
 * the text is not a dotted identifier pattern.
 */
export function splitPattern(source: string): RawPart[] | string {
  const parts: RawPart[] = [];
  let i = 0;
  for (;;) {
    if (source[i] === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) return 'has an unterminated double quote';
        if (source[i] === '"') {
          if (source[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += source[i++];
      }
      if (text === '') return 'has an empty quoted name';
      parts.push({ text, quoted: true });
    } else {
      let text = '';
      while (i < source.length && source[i] !== '.' && source[i] !== '"') text += source[i++];
      if (text === '') return 'has an empty name part (check the dots)';
      if (/\s/.test(text)) return 'has white space in an unquoted name (quote it with double quotes)';
      if (source[i] === '"') return 'has a double quote inside an unquoted name';
      parts.push({ text: text.toLowerCase(), quoted: false });
    }
    if (i >= source.length) return parts;
    if (source[i] !== '.') return 'has text after a quoted name (expected a dot)';
    i++;
    if (i >= source.length) return 'ends with a dot';
  }
}

function compileGlob(part: RawPart): Glob {
  if (part.quoted || !part.text.includes('*')) {
    const text = part.text;
    return { text, wild: false, test: (value) => value === text };
  }
  const re = new RegExp(`^${part.text.split('*').map(escapeRegExp).join('.*')}$`, 's');
  return { text: part.text, wild: true, test: (value) => re.test(value) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Compile a pattern of exactly `count` parts. Throws on a malformed pattern: callers compile only
 * patterns the schema has already validated with `patternProblem`.
 */
export function compilePattern(source: string, count: number): NamePattern {
  const parts = splitPattern(source);
  if (typeof parts === 'string') throw new Error(`invalid name pattern: ${parts}`);
  if (parts.length !== count) throw new Error(`invalid name pattern: expected ${count} parts, got ${parts.length}`);
  const globs = parts.map(compileGlob);
  return { source, parts: globs, wild: globs.some((g) => g.wild) };
}

/** Whether `source` is a valid pattern of `count` parts; the problem sentence when not. */
export function patternProblem(source: string, count: number, shape: string, example: string): string | undefined {
  const parts = splitPattern(source);
  if (typeof parts === 'string') return `${parts}: expected ${shape}, e.g. ${example}`;
  if (parts.length === count) return undefined;
  if (count === 2 && parts.length === 1) return `must be schema-qualified (${shape}, e.g. ${example}; use *.name for any schema): a bare name is ambiguous`;
  return `expected ${shape} (${count} dot-separated part${count === 1 ? '' : 's'}), e.g. ${example}`;
}

/** Test a compiled pattern against name parts (as stored: already folded). */
export function matches(pattern: NamePattern, ...names: string[]): boolean {
  const { parts } = pattern;
  if (parts.length !== names.length) return false;
  for (let i = 0; i < parts.length; i++) if (!parts[i].test(names[i])) return false;
  return true;
}

/** A lookup key for name parts (NUL-joined: a name may itself contain dots). */
export function nameKey(...names: string[]): string {
  return names.join('\u0000');
}

/** The lookup key of the exact name a wildcard-free pattern denotes; undefined for a wildcard. */
export function exactKey(pattern: NamePattern): string | undefined {
  return pattern.wild ? undefined : nameKey(...pattern.parts.map((p) => p.text));
}

/** Quote an identifier for a message the way PostgreSQL would need it written. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** A dotted, quoted-where-needed name for messages: `public."Orders".ssn`. */
export function qualified(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => p !== undefined && p !== '')
    .map(quoteIdent)
    .join('.');
}
