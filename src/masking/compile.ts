/**
 * Compile the `masking:` section once per configuration load, then pick the rules in force for
 * one identity (once per connection).
 */
import type { Identity } from '../identity/types.ts';
import { compilePattern, nameKey } from '../policy/pattern.ts';
import { carrierOf, contentMasker, maskFoundText } from './detect-encodings.ts';
import { buildMasker, DEFAULT_REDACT_TEXT } from './maskers.ts';
import type { IdentitySelector, MaskingConfig, MaskerOptions } from './schema.ts';
import type { CellMasker, CompiledMasking, CompiledSelector, DetectScope, FormerNameLookup, MaskerSpec, MaskingScope, MaskRule } from './types.ts';

function selector(s: IdentitySelector | undefined): CompiledSelector | undefined {
  if (!s) return undefined;
  return {
    ...(s.subjects && { subjects: new Set(s.subjects) }),
    ...(s.groups && { groups: new Set(s.groups) }),
    ...(s.issuers && { issuers: new Set(s.issuers) }),
  };
}

/**
 * Whether a selector names the identity: the issuer must be listed (URL or short name) when
 * `issuers` is given, and the subject or a group must be listed when `subjects` or `groups` is
 * given — the same reading as a policy's `match`.
 */
export function selects(s: CompiledSelector, identity: Identity): boolean {
  if (s.issuers && !s.issuers.has(identity.issuer) && !s.issuers.has(identity.issuerName)) return false;
  if (!s.subjects && !s.groups) return s.issuers !== undefined;
  if (s.subjects?.has(identity.subject)) return true;
  return s.groups !== undefined && identity.groups.some((g) => s.groups?.has(g));
}

/** A rule or detector applies unless `except` names the identity, and only to `only` when set. */
function appliesTo(r: { except?: CompiledSelector; only?: CompiledSelector }, identity: Identity): boolean {
  if (r.except && selects(r.except, identity)) return false;
  return r.only === undefined || selects(r.only, identity);
}

function spec(kind: MaskerSpec['kind'], options: MaskerOptions | undefined): MaskerSpec {
  return { kind, options: options ?? {} };
}

export function compileMasking(cfg: MaskingConfig | undefined): CompiledMasking {
  const rules: MaskRule[] = (cfg?.rules ?? []).map((r, index) => ({
    index,
    column: r.column,
    pattern: compilePattern(r.column, 3),
    spec: spec(r.with, r.options),
    filter: r.filter,
    allowFlows: new Set(r.allow_flows ?? []),
    ...(r.except && { except: selector(r.except) }),
    ...(r.only && { only: selector(r.only) }),
  }));
  const d = cfg?.detect;
  return {
    rules,
    ...(d && {
      detect: {
        kinds: new Set(d.kinds),
        spec: spec(d.with, d.options),
        ...(d.except && { except: selector(d.except) }),
        ...(d.only && { only: selector(d.only) }),
      },
    }),
    ...(cfg?.hash_key !== undefined && { key: Buffer.from(cfg.hash_key, 'utf8') }),
    maskerCache: new Map(),
  };
}

const MAX_LOOKUPS = 10_000;

const REDACT: MaskerSpec = { kind: 'redact', options: {} };

/**
 * The rules of `compiled` in force for `identity`. `former` gives the names renamed objects had
 * (the catalog's record): a rule keeps governing a column renamed, moved to another table name or
 * schema since the gateway saw it.
 */
export function maskingFor(compiled: CompiledMasking, identity: Identity, former?: FormerNameLookup): MaskingScope {
  const rules = compiled.rules.filter((r) => appliesTo(r, identity));
  const d = compiled.detect;
  const detectScope: DetectScope | undefined = d && appliesTo(d, identity) ? { kinds: d.kinds, spec: d.spec } : undefined;
  const lookups = new Map<string, MaskRule | null>();
  const cache = compiled.maskerCache;
  const key = compiled.key;

  const cached = (k: string, make: () => CellMasker): CellMasker => {
    let m = cache.get(k);
    if (!m) {
      m = make();
      cache.set(k, m);
    }
    return m;
  };

  const byName = (schema: string, table: string, column: string): MaskRule | undefined => {
    const k = nameKey(schema, table, column);
    let r = lookups.get(k);
    if (r === undefined) {
      r = rules.find((x) => x.pattern.parts[0].test(schema) && x.pattern.parts[1].test(table) && x.pattern.parts[2].test(column)) ?? null;
      // Names come from client statements: bound the memo so a session cannot grow it without end.
      if (lookups.size >= MAX_LOOKUPS) lookups.clear();
      lookups.set(k, r);
    }
    return r ?? undefined;
  };

  const ruleFor = (schema: string, table: string, column: string): MaskRule | undefined => {
    if (rules.length === 0) return undefined;
    const direct = byName(schema, table, column);
    if (direct || !former) return direct;
    // Not memoised: the record of renames grows with catalog reloads.
    for (const [s, t, c] of former.column(schema, table, column)) {
      const r = byName(s, t, c);
      if (r) return r;
    }
    return undefined;
  };

  const relationByName = (schema: string, table: string) => rules.some((x) => x.pattern.parts[0].test(schema) && x.pattern.parts[1].test(table));

  return {
    empty: rules.length === 0 && detectScope === undefined,
    hasRules: rules.length > 0,
    subject: identity.subject,
    compiled,
    detect: detectScope,
    ruleFor,
    relationSensitive(schema, table, columns) {
      if (columns) return columns.some((c) => ruleFor(schema, table, c) !== undefined);
      if (relationByName(schema, table)) return true;
      return former !== undefined && former.relation(schema, table).some(([s, t]) => relationByName(s, t));
    },
    maskerFor(rule, typeOid, format, textLike) {
      return cached(`r${rule.index}:${typeOid}:${format}:${textLike ? 't' : 'o'}`, () => buildMasker(rule.spec, typeOid, format, textLike, key, `${rule.spec.kind} (${rule.column})`));
    },
    expressionMasker(typeOid, format, textLike) {
      return cached(`x:${typeOid}:${format}:${textLike ? 't' : 'o'}`, () => buildMasker(REDACT, typeOid, format, textLike, key, 'redact (computed from a masked column)'));
    },
    detectMasker(typeOid, format, textLike) {
      if (!detectScope) return undefined;
      const carrier = carrierOf(typeOid, textLike);
      if (carrier === 'none') return undefined;
      return cached(`d:${carrier}:${format}`, () => contentMasker(detectScope, key, typeOid, format, textLike) ?? { label: 'none', mask: (v) => v });
    },
  };
}

/**
 * Mask the detections inside a message text (server errors); undefined when nothing was found.
 * Messages echo values in any encoding a query produced (`invalid input syntax for type integer:
 * "\x6a61…"`), so encoded runs and escapes are read too (detect-encodings.ts). A finding the
 * `null` masker would turn into NULL is redacted instead: a message has no NULL.
 */
export function maskDetections(d: DetectScope, text: string, key: Buffer | undefined): string | undefined {
  const spec = d.spec.kind === 'null' ? { kind: 'redact' as const, options: {} } : d.spec;
  const out = maskFoundText(text, { kinds: d.kinds, spec }, key);
  return out === undefined ? undefined : (out ?? DEFAULT_REDACT_TEXT);
}
