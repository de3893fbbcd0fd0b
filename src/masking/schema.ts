/**
 * The shape of the top-level `masking:` key of pgwarden.yaml (zod, strict objects).
 *
 * ```yaml
 * masking:
 *   hash_key: ${env:PGWARDEN_MASK_KEY}       # required when a rule or detect uses hash or fake
 *   rules:
 *     - column: public.customers.email        # schema.table.column, `*` within a part
 *       with: email                           # redact | null | partial | email | phone | hash | fake
 *       options: { keep_first: 1 }            # per masker, see MASKER_OPTIONS
 *       filter: equality                      # deny | equality | allow (default equality)
 *       allow_flows: [order, aggregate]       # other positions its value may flow into (default none)
 *       except: { groups: [support] }         # who sees the column in clear
 *       only: { groups: [analysts] }          # when set, the rule applies only to these
 *   detect:                                   # content detection on text columns no rule names
 *     kinds: [email, phone, credit_card, iban, ip, national_id]
 *     with: redact
 * ```
 *
 * A bare list (`masking: [ {column, with}, … ]`) is read as `masking: { rules: [ … ] }`.
 * Column patterns are read by policy/pattern.ts, exactly as policies read them. Messages describe
 * expectations only and never echo the value found (the hash key comes from `${env:…}`).
 */
import { z } from 'zod';
import { patternProblem } from '../policy/pattern.ts';

export const MASKERS = ['redact', 'null', 'partial', 'email', 'phone', 'hash', 'fake'] as const;
export type MaskerKind = (typeof MASKERS)[number];

export const FILTER_MODES = ['deny', 'equality', 'allow'] as const;
export type FilterMode = (typeof FILTER_MODES)[number];

/**
 * Positions a rule's `allow_flows` may open for its column, besides returning it masked and the
 * predicates its `filter` mode allows (see masking/flows.ts for what each one is).
 */
export const FLOW_NAMES = ['order', 'group', 'distinct', 'limit', 'case', 'aggregate', 'window', 'set_operation', 'set_returning', 'function', 'write', 'setting'] as const;
export type FlowName = (typeof FLOW_NAMES)[number];

export const DETECT_KINDS = ['email', 'phone', 'credit_card', 'iban', 'ip', 'national_id'] as const;
export type DetectKind = (typeof DETECT_KINDS)[number];

/** The options each masker reads; any other option is a configuration error. */
export const MASKER_OPTIONS: Record<MaskerKind, readonly string[]> = {
  redact: ['text'],
  null: [],
  partial: ['keep_first', 'keep_last', 'mask_char', 'text'],
  email: ['keep_first', 'keep_domain', 'text'],
  phone: ['keep_last', 'mask_char'],
  hash: ['length', 'encoding'],
  fake: [],
};

/** Maskers that derive their output from the keyed HMAC. */
export const KEYED_MASKERS: readonly MaskerKind[] = ['hash', 'fake'];

const columnPattern = z.string().superRefine((value, ctx) => {
  const problem = patternProblem(value, 3, 'schema.table.column', 'public.customers.ssn, *.*.email');
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const names = z.array(z.string().min(1)).min(1);

const identities = z
  .object({
    subjects: names.optional(),
    groups: names.optional(),
    /** Issuer URLs (`iss`) or configured short names. */
    issuers: names.optional(),
  })
  .strict()
  .refine((m) => m.subjects !== undefined || m.groups !== undefined || m.issuers !== undefined, 'must name subjects, groups or issuers');

const optionsSchema = z
  .object({
    /** redact: the replacement; partial: the middle's replacement (hides the length); email: the local part's. */
    text: z.string().max(256).optional(),
    keep_first: z.number().int().min(0).max(64).optional(),
    keep_last: z.number().int().min(0).max(64).optional(),
    mask_char: z.string().length(1).optional(),
    keep_domain: z.boolean().optional(),
    /** hash: characters of the digest kept. */
    length: z.number().int().min(8).max(64).optional(),
    encoding: z.enum(['hex', 'base64']).optional(),
  })
  .strict();

export type MaskerOptions = z.infer<typeof optionsSchema>;

function checkOptions(kind: MaskerKind, options: MaskerOptions | undefined, ctx: z.RefinementCtx, at: (string | number)[]): void {
  if (!options) return;
  const allowed = MASKER_OPTIONS[kind];
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, key],
        message: allowed.length === 0 ? `the ${kind} masker takes no options` : `is not an option of the ${kind} masker (it takes ${allowed.join(', ')})`,
      });
    }
  }
  if (kind === 'phone' && options.keep_last !== undefined && options.keep_last > 4) {
    ctx.addIssue({ code: 'custom', path: [...at, 'keep_last'], message: 'must be at most 4 for phone numbers (more would reveal the number)' });
  }
}

const ruleSchema = z
  .object({
    column: columnPattern,
    with: z.enum(MASKERS),
    options: optionsSchema.optional(),
    /** How the column may be used in WHERE / JOIN / GROUP BY / ORDER BY (inference through predicates). */
    filter: z.enum(FILTER_MODES).default('equality'),
    /**
     * Other positions the column's value may flow into for the identities the rule masks it for
     * (ORDER BY, LIMIT, aggregates, functions that can fail on it, writes …); none by default.
     */
    allow_flows: z.array(z.enum(FLOW_NAMES)).optional(),
    /** Identities that see the column in clear. */
    except: identities.optional(),
    /** When set, the rule applies only to these identities. */
    only: identities.optional(),
  })
  .strict()
  .superRefine((rule, ctx) => checkOptions(rule.with, rule.options, ctx, ['options']));

const detectSchema = z
  .object({
    kinds: z.array(z.enum(DETECT_KINDS)).min(1).default([...DETECT_KINDS]),
    with: z.enum(MASKERS).default('redact'),
    options: optionsSchema.optional(),
    except: identities.optional(),
    only: identities.optional(),
  })
  .strict()
  .superRefine((d, ctx) => checkOptions(d.with, d.options, ctx, ['options']));

const maskingObject = z
  .object({
    /** Key of the HMAC behind `hash` and `fake` (at least 16 characters; from `${env:…}` or `${file:…}`). */
    hash_key: z.string().min(16).optional(),
    rules: z.array(ruleSchema).default([]),
    detect: detectSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.hash_key !== undefined) return;
    m.rules.forEach((r, i) => {
      if (KEYED_MASKERS.includes(r.with)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'with'], message: `${r.with} needs masking.hash_key, e.g. hash_key: \${env:PGWARDEN_MASK_KEY}` });
    });
    if (m.detect && KEYED_MASKERS.includes(m.detect.with)) {
      ctx.addIssue({ code: 'custom', path: ['detect', 'with'], message: `${m.detect.with} needs masking.hash_key, e.g. hash_key: \${env:PGWARDEN_MASK_KEY}` });
    }
  });

export const maskingSchema = z.preprocess((v) => (Array.isArray(v) ? { rules: v } : v), maskingObject);

/** The validated `masking:` section (defaults filled). */
export type MaskingConfig = z.infer<typeof maskingObject>;
/** As written, before defaults. */
export type MaskingInput = z.input<typeof maskingObject>;
export type MaskingRuleConfig = MaskingConfig['rules'][number];
export type IdentitySelector = z.infer<typeof identities>;
