/**
 * The data masking works with: compiled rules, the rules in force for one identity, per-cell
 * maskers and per-result-set plans.
 */
import type { NamePattern } from '../policy/pattern.ts';
import type { DetectKind, FilterMode, FlowName, MaskerKind, MaskerOptions } from './schema.ts';

/**
 * Masks one cell. `value` is the cell's bytes in the result format the plan was built for (for
 * COPY: the unescaped text). Returns `value` itself when nothing changed, `null` for SQL NULL,
 * otherwise the replacement bytes. Implementations MUST NOT keep or mutate `value`; callers MUST
 * NOT mutate what is returned (constant replacements are shared).
 */
export interface CellMasker {
  /** The masker and where it comes from, for `explain` and audit: `email (public.customers.email)`. */
  readonly label: string;
  mask(value: Buffer): Buffer | null;
  /**
   * Set when every value masks to the same result (`redact`, `null`): DataRow rewriting then uses
   * it without reading the cell. MUST equal what `mask` returns for any value.
   */
  readonly fixed?: Buffer | null;
  /**
   * Optional, for row rewriting straight into the output: write the masked value of
   * `src[start, end)` into `dst` from `at` and return where it ends. MUST write exactly the bytes
   * `mask` returns for that value, never NULL, and at most `growth` bytes more than the value has.
   */
  writeTo?(src: Buffer, start: number, end: number, dst: Buffer, at: number): number;
  readonly growth?: number;
}

/**
 * Names an object had before it was renamed (the catalog's record, see catalog/renames.ts): a rule
 * written for any of them still applies to the object under its current name.
 */
export interface FormerNameLookup {
  /** [schema, table, column] names of the column currently called schema.table.column. */
  column(schema: string, table: string, column: string): readonly (readonly string[])[];
  /** [schema, table] names of the relation currently called schema.table (and of its columns' relations). */
  relation(schema: string, table: string): readonly (readonly string[])[];
}

/** Which masker and its options. */
export interface MaskerSpec {
  readonly kind: MaskerKind;
  readonly options: MaskerOptions;
}

/** Who an `except` / `only` selector names (exact comparisons: these are the IdP's strings). */
export interface CompiledSelector {
  readonly subjects?: ReadonlySet<string>;
  readonly groups?: ReadonlySet<string>;
  readonly issuers?: ReadonlySet<string>;
}

/** One compiled masking rule. */
export interface MaskRule {
  /** Position in `masking.rules` (the first matching rule wins). */
  readonly index: number;
  /** The column pattern as written. */
  readonly column: string;
  readonly pattern: NamePattern;
  readonly spec: MaskerSpec;
  readonly filter: FilterMode;
  /** Flows of the value the rule allows besides outputs and its filter mode (`allow_flows`). */
  readonly allowFlows: ReadonlySet<FlowName>;
  readonly except?: CompiledSelector;
  readonly only?: CompiledSelector;
}

export interface CompiledDetect {
  readonly kinds: ReadonlySet<DetectKind>;
  readonly spec: MaskerSpec;
  readonly except?: CompiledSelector;
  readonly only?: CompiledSelector;
}

/** The whole `masking:` section, compiled once per configuration load. */
export interface CompiledMasking {
  readonly rules: readonly MaskRule[];
  readonly detect?: CompiledDetect;
  /** HMAC key of `hash` and `fake`. */
  readonly key?: Buffer;
  /** Maskers built per (rule, type, format), shared by every scope of this configuration. */
  readonly maskerCache: Map<string, CellMasker>;
}

/** Content detection in force for one identity. */
export interface DetectScope {
  readonly kinds: ReadonlySet<DetectKind>;
  readonly spec: MaskerSpec;
}

/** The masking rules in force for one identity (one per connection). */
export interface MaskingScope {
  /** True when nothing is masked or detected for this identity: every result passes untouched. */
  readonly empty: boolean;
  /** True when at least one rule applies to this identity (detection aside). */
  readonly hasRules: boolean;
  /** The identity's subject, for refusal messages. */
  readonly subject: string;
  /**
   * The first rule naming the column (names as stored: already case-folded) under its current
   * name or, failing that, under any name it had before a rename.
   */
  ruleFor(schema: string, table: string, column: string): MaskRule | undefined;
  /**
   * True when some rule names a column of this relation: one of `columns` when given, otherwise
   * any column at all (a rule `*.*.ssn` makes every relation sensitive when its columns are unknown).
   */
  relationSensitive(schema: string, table: string, columns?: readonly string[]): boolean;
  readonly detect: DetectScope | undefined;
  /** The masker of `rule` for a value of this type and result format (cached). */
  maskerFor(rule: MaskRule, typeOid: number, format: 0 | 1, textLike: boolean): CellMasker;
  /** The masker used for a value computed from sensitive columns (`lower(email)`): redact or NULL. */
  expressionMasker(typeOid: number, format: 0 | 1, textLike: boolean): CellMasker;
  /**
   * The content-detection masker for a value of this type and format (text, bytea, JSON, arrays
   * and other types that can carry text; see detect-encodings.ts); undefined when detection is
   * off or the type cannot carry text.
   */
  detectMasker(typeOid: number, format: 0 | 1, textLike: boolean): CellMasker | undefined;
  readonly compiled: CompiledMasking;
}

/** Why a column of a plan is masked, for `explain` and audit. */
export interface PlanColumn {
  index: number;
  name: string;
  masker: string;
  /** 'row_description' | 'analysis' | 'fallback' | 'detect'. */
  evidence: 'row_description' | 'analysis' | 'fallback' | 'detect';
}

/** Which cells of each row of one result set are masked, and how. */
export interface MaskPlan {
  /** One entry per field (index = field index); null = forwarded untouched. */
  readonly columns: readonly (CellMasker | null)[];
  /** True when at least one column has a masker. False: forward every row as the same bytes. */
  readonly any: boolean;
  /** The masked columns, for explain and audit. */
  readonly described: readonly PlanColumn[];
  /** Things the caller should log or audit (e.g. the analysis fallback). */
  readonly notes: readonly string[];
}

export interface PlanRefusal {
  refuse: string;
}
