/**
 * Where a stored value may go without changing what the statement can reveal, and where it may
 * not: the safe list of built-in functions, operators and casts that cannot raise an error on any
 * value of their input and return exactly one value per call, and the names of set-returning
 * functions and aggregates (for the refusal's wording and for `allow_flows`).
 *
 * Why a safe list: an error message can echo the value (`relation "901-37-4729" does not exist`
 * from `ssn::regclass`), and whether a statement fails at all is one bit per query
 * (`1 / (ascii(substr(ssn, 1, 1)) - 57)`). Which built-ins can fail depends on the function, the
 * argument position and the type, which the raw parse tree does not carry; so everything not
 * listed here, by position, counts as able to fail. A function counts as built in only when it is
 * not schema-qualified outside pg_catalog and no schema of the search path other than pg_catalog
 * has a function of that name (a planted overload could win resolution).
 *
 * The expression walker calls `callFlows` and `operatorFlow` for every call and operator whose
 * arguments hold stored data; the query walker records the other sinks (LIMIT, DISTINCT, set
 * operations, writes) itself.
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import { constText, list, names, type Node } from './ast.ts';
import type { Carried, Collector } from './collector.ts';
import type { FlowSink } from './types.ts';

/** Every argument position. */
const ALL = 'all';
type Positions = typeof ALL | readonly number[];

/**
 * Built-in functions that cannot fail on a value at the listed (0-based) argument positions,
 * return one row, and return NULL only for a NULL input (a masked result keeps its NULLs, so a
 * function that answers NULL for some values, like `regexp_substr`, `substring(x from pattern)`,
 * `to_char` of infinity or `->>` of a missing key, would tell which): text case and trimming, lengths, substrings by position, concatenation,
 * hashing, quoting, regular-expression subjects, rounding. Not listed on purpose: the length of
 * repeat / lpad (huge lengths fail), chr, to_number, abs and arithmetic helpers (overflow),
 * regular-expression patterns and flags, format, split_part's field number, decode, casts.
 */
const SAFE_FUNCTIONS: ReadonlyMap<string, Positions> = new Map<string, Positions>([
  ['lower', ALL],
  ['upper', ALL],
  ['initcap', ALL],
  ['length', [0]],
  ['char_length', ALL],
  ['character_length', ALL],
  ['octet_length', ALL],
  ['bit_length', ALL],
  ['ascii', ALL],
  ['md5', ALL],
  ['btrim', ALL],
  ['ltrim', ALL],
  ['rtrim', ALL],
  ['substr', [0]],
  ['substring', [0]],
  ['left', [0]],
  ['right', [0]],
  ['lpad', [0, 2]],
  ['rpad', [0, 2]],
  ['concat', ALL],
  ['concat_ws', ALL],
  ['reverse', ALL],
  ['replace', ALL],
  ['translate', ALL],
  ['strpos', ALL],
  ['position', ALL],
  ['starts_with', ALL],
  ['split_part', [0, 1]],
  ['quote_literal', ALL],
  ['quote_ident', ALL],
  ['quote_nullable', ALL],
  ['date_part', [1]],
  ['extract', [1]],
  ['date_trunc', [1]],
  ['normalize', [0]],
  ['overlay', [0, 1]],
  // The subject of a regular expression (its pattern is compiled before any value is seen).
  ['regexp_replace', [0]],
  ['regexp_like', [0]],
  ['regexp_count', [0]],
  ['regexp_instr', [0]],
  ['string_to_array', [0, 1]],
  ['array_to_string', ALL],
  ['encode', [0]],
  ['to_hex', ALL],
  ['round', [0]],
  ['trunc', [0]],
  ['floor', ALL],
  ['ceil', ALL],
  ['ceiling', ALL],
  ['sign', ALL],
]);

/** Operators that cannot fail on a value at these positions (0 left, 1 right). */
const SAFE_OPERATORS: ReadonlyMap<string, Positions> = new Map<string, Positions>([
  ['=', ALL],
  ['<>', ALL],
  ['!=', ALL],
  ['<', ALL],
  ['>', ALL],
  ['<=', ALL],
  ['>=', ALL],
  ['||', ALL],
  // The pattern of LIKE / regular expressions can be invalid: only the matched side is safe.
  ['~~', [0]],
  ['!~~', [0]],
  ['~~*', [0]],
  ['!~~*', [0]],
  ['~', [0]],
  ['~*', [0]],
  ['!~', [0]],
  ['!~*', [0]],
]);

/** Cast targets every value converts to without error (output functions do not fail). */
const SAFE_CAST_TARGETS: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar', 'name', 'char']);

/**
 * Cast targets that give back the value itself, as text, when written without a type modifier.
 * Not `name` (cut at 63 bytes) nor `"char"` (one byte); `char` / `character` written without a
 * length is `bpchar(1)` in the grammar, so it comes with a modifier.
 */
const VALUE_PRESERVING_CAST_TARGETS: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar']);

/** Built-in set-returning functions: their arguments decide how many rows come back. */
const SET_RETURNING: ReadonlySet<string> = new Set([
  'generate_series', 'generate_subscripts', 'unnest', 'regexp_matches', 'regexp_split_to_table', 'string_to_table',
  'json_array_elements', 'json_array_elements_text', 'jsonb_array_elements', 'jsonb_array_elements_text', 'json_each',
  'json_each_text', 'jsonb_each', 'jsonb_each_text', 'json_object_keys', 'jsonb_object_keys', 'jsonb_path_query',
  'json_populate_recordset', 'jsonb_populate_recordset', 'json_to_recordset', 'jsonb_to_recordset', 'ts_stat',
  'ts_debug', 'ts_parse', 'ts_token_type', 'unnest', 'pg_options_to_table', 'aclexplode',
]);

/** Built-in aggregates (the catalog's kind 'a' is used when it knows the function). */
const AGGREGATES: ReadonlySet<string> = new Set([
  'count', 'min', 'max', 'sum', 'avg', 'any_value', 'every', 'bool_and', 'bool_or', 'bit_and', 'bit_or', 'bit_xor',
  'string_agg', 'array_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'xmlagg', 'stddev',
  'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr', 'covar_pop', 'covar_samp', 'regr_avgx',
  'regr_avgy', 'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope', 'regr_sxx', 'regr_sxy', 'regr_syy', 'mode',
  'percentile_cont', 'percentile_disc', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'range_agg',
  'range_intersect_agg', 'json_agg_strict', 'jsonb_agg_strict',
]);

/**
 * Built-in functions that match a pattern, a search string or a set of characters against a
 * value, with the positions of the value searched and of what is searched for (0-based). Such a
 * call is a predicate on both, wherever it stands: its result, its cost and the size of what it
 * returns depend on whether (and where) the pattern matches, and safe-list functions grow a
 * chosen match without bound (`length(replace(regexp_replace(ssn, '^901', repeat('Q', 3000)),
 * 'Q', repeat('Q', 3000)))` takes half a second when ssn starts with 901, nothing otherwise: a
 * statement_timeout turns that into an error bit). So a stored value in one of these positions
 * is a `filter` use of each of its sources under the function's name (`matchUses`), in the output
 * list too, and the filter modes decide it as they decide `WHERE regexp_like(ssn, …)`: `deny` and
 * `equality` refuse it.
 * Covered: the regular-expression functions; replace, translate, split_part, strpos, position,
 * starts_with, string_to_array / string_to_table (delimiter and null string); the trims given
 * their characters (`btrim(x, chars)`, `TRIM(BOTH chars FROM x)`); the array searches (which
 * compare elements with `=`); and the LIKE / regular-expression support functions callable by
 * name (`textlike`, `textregexeq` …). `substring(x FROM pattern)` and `SIMILAR` are matched in
 * `matchUses` by form, since `substring(x, start, len)` takes positions.
 * Not covered, on purpose: functions that take the value as it is or by position (lower, upper,
 * initcap, length, substr, left, right, lpad/rpad, overlay, concat, reverse, md5, encode) and the
 * one-argument trims of spaces: what they return, and what it costs, depends on the value's
 * length, not on matching anything the client chose. quote_literal / quote_ident and the escape
 * encoding double quotes and backslashes only: the client cannot choose what they match.
 */
const MATCHING_FUNCTIONS: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ...['regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_like', 'regexp_count', 'regexp_instr', 'regexp_substr', 'regexp_split_to_table', 'regexp_split_to_array'].map((n): [string, number[]] => [n, [0, 1]]),
  ...['replace', 'translate', 'split_part', 'strpos', 'position', 'starts_with', 'btrim', 'ltrim', 'rtrim'].map((n): [string, number[]] => [n, [0, 1]]),
  ['string_to_array', [0, 1, 2]],
  ['string_to_table', [0, 1, 2]],
  ...['array_position', 'array_positions', 'array_remove', 'array_replace'].map((n): [string, number[]] => [n, [0, 1]]),
  ...['textlike', 'textnlike', 'texticlike', 'texticnlike', 'bpcharlike', 'bpcharnlike', 'bpchariclike', 'bpcharicnlike', 'namelike', 'namenlike', 'nameiclike', 'nameicnlike'].map((n): [string, number[]] => [n, [0, 1]]),
  ...['textregexeq', 'textregexne', 'texticregexeq', 'texticregexne', 'bpcharregexeq', 'bpcharregexne', 'bpcharicregexeq', 'bpcharicregexne', 'nameregexeq', 'nameregexne', 'nameicregexeq', 'nameicregexne', 'textregexsubstr'].map((n): [string, number[]] => [n, [0, 1]]),
]);

/**
 * Operators that match a pattern against a value (LIKE, ILIKE, SIMILAR TO, the regular
 * expressions, `^@` starts-with), by name, and their ANY / ALL forms: as the functions above.
 */
const MATCHING_OPERATORS: ReadonlySet<string> = new Set(['~~', '!~~', '~~*', '!~~*', '~', '~*', '!~', '!~*', '^@']);

/** Functions that change a setting with their arguments. */
const SETTING_FUNCTIONS: ReadonlySet<string> = new Set(['set_config']);

function inPositions(p: Positions | undefined, i: number): boolean {
  return p !== undefined && (p === ALL || p.includes(i));
}

/**
 * True when `name` (written with `schema`, or unqualified) can only be the built-in: a planted
 * function of the same name in a schema of the path could be the one the server calls.
 */
function isBuiltinName(catalog: CatalogSnapshot, path: readonly string[], schema: string | undefined, name: string): boolean {
  if (schema !== undefined) return schema === 'pg_catalog';
  for (const s of path) if (s !== 'pg_catalog' && catalog.functions.has(`${s}.${name}`)) return false;
  return true;
}

interface CallKind {
  /** Where an argument with stored data flows; undefined when it is safe at that position. */
  sink(position: number, named: boolean): FlowSink | undefined;
  readonly aggregate: boolean;
}

/**
 * How a call treats its arguments: `window` when it has OVER, an aggregate (count is decided by
 * the caller), a set-returning function, set_config, or a plain function: safe at the listed
 * positions of a built-in, otherwise able to fail.
 */
function callKind(catalog: CatalogSnapshot, path: readonly string[], schema: string | undefined, name: string, window: boolean, aggregateSyntax: boolean): CallKind {
  const builtin = isBuiltinName(catalog, path, schema, name);
  const catalogAggregate = builtin && (catalog.functions.get(`pg_catalog.${name}`)?.some((f) => f.kind === 'a' || f.kind === 'w') ?? false);
  const aggregate = builtin && (aggregateSyntax || catalogAggregate || AGGREGATES.has(name));
  if (window) return { aggregate, sink: () => 'window' };
  if (aggregate) return { aggregate, sink: () => 'aggregate' };
  if (builtin && SET_RETURNING.has(name)) return { aggregate, sink: () => 'set_returning' };
  if (builtin && SETTING_FUNCTIONS.has(name)) return { aggregate, sink: () => 'setting' };
  const safe = builtin ? SAFE_FUNCTIONS.get(name) : undefined;
  return { aggregate, sink: (i, named) => (!named && inPositions(safe, i)) || (named && safe === ALL) ? undefined : 'function' };
}

/** True when an operator cannot fail on a value at `position` (0 left, 1 right). */
function safeOperator(op: string, position: number): boolean {
  return inPositions(SAFE_OPERATORS.get(op), position);
}

/** True when a cast to this type (its written name's last part) cannot fail on any value. */
export function safeCast(typeNames: readonly string[], isArray: boolean): boolean {
  if (isArray) return false;
  const schema = typeNames.length > 1 ? typeNames[typeNames.length - 2] : undefined;
  if (schema !== undefined && schema !== 'pg_catalog') return false;
  return SAFE_CAST_TARGETS.has(typeNames[typeNames.length - 1] ?? '');
}

/**
 * True when a cast to this type returns the value unchanged (in its text form), so its result
 * still IS the column: masked by the column's own masker and compared as the column. A type
 * modifier can change the value (`varchar(3)`, `char(n)`, `bit(n)` cut it; `numeric(p, s)`,
 * `timestamp(p)`, interval fields round or drop parts), and so can any other target type: the
 * result is then a value computed from the column, never the column. Otherwise a masker that
 * keeps part of the value runs on a part chosen by the client (`phone::varchar(k)` for each k
 * shows one more character), and equality with a cut value is a prefix test that passes as
 * equality of the column.
 */
export function valuePreservingCast(typeName: Node | undefined): boolean {
  if (!typeName || list(typeName.typmods).length > 0 || list(typeName.arrayBounds).length > 0) return false;
  const written = names(typeName.names).map((x) => x.toLowerCase());
  const schema = written.length > 1 ? written[written.length - 2] : undefined;
  if (schema !== undefined && schema !== 'pg_catalog') return false;
  return VALUE_PRESERVING_CAST_TARGETS.has(written[written.length - 1] ?? '');
}

// ── flows of calls and operators ───────────────────────────────────────────────────────────

/** The operator's name for the safe list, or '' when it is qualified outside pg_catalog. */
function operatorName(e: Node): string {
  const n = names(e.name);
  if (n.length > 1 && n[n.length - 2] !== 'pg_catalog') return '';
  switch (e.kind as string) {
    case 'AEXPR_IN':
    case 'AEXPR_DISTINCT':
    case 'AEXPR_NOT_DISTINCT':
    case 'AEXPR_NULLIF':
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN':
    case 'AEXPR_BETWEEN_SYM':
    case 'AEXPR_NOT_BETWEEN_SYM':
      return '=';
    default:
      return n.at(-1) ?? '';
  }
}

/**
 * A LIKE pattern PostgreSQL can run into the end of: a trailing unpaired backslash fails only when
 * the match gets that far, so whether `ssn LIKE '9\'` fails tells whether ssn starts with 9.
 * Safe only when the pattern is a constant without one.
 */
function safeLikePattern(n: Node | undefined): boolean {
  const t = n?.A_Const ? constText(n) : undefined;
  if (typeof t !== 'string') return false;
  let i = 0;
  while (i < t.length) i += t[i] === '\\' ? 2 : 1;
  return i === t.length;
}

/**
 * An operand of an operator that can fail on it (division, arithmetic, a pattern) is a flow. In a
 * predicate, LIKE's own failure tells no more than the LIKE itself, which the filter mode
 * decides; elsewhere the matched side is safe only against a well-formed constant pattern.
 */
export function operatorFlow(c: Collector, e: Node, p: Carried, position: number, inPredicate: boolean): void {
  if (p.src.length === 0 || p.d === 'aggregate') return;
  const op = operatorName(e);
  const like = e.kind === 'AEXPR_LIKE' || e.kind === 'AEXPR_ILIKE';
  if (!safeOperator(op, position) || (like && !inPredicate && !safeLikePattern(e.rexpr))) {
    c.flow(p.src, 'function', `operator ${op || names(e.name).join('.')}`);
  }
}

/**
 * Where a call's arguments flow: a window function's and an aggregate's arguments (count of the
 * plain column aside: it reveals no value), a set-returning function's, set_config's, and any
 * argument of a function that can fail on it (not on the safe list at that position).
 */
export function callFlows(c: Collector, f: Node, args: Node[], argProvs: readonly Carried[], order: readonly Carried[]): void {
  let any = false;
  for (const p of argProvs) if (p.src.length > 0) any = true;
  for (const p of order) if (p.src.length > 0) any = true;
  if (!any) return;
  const written = names(f.funcname).map((x) => x.toLowerCase());
  const name = written[written.length - 1] ?? '';
  const schema = written.length > 1 ? written[written.length - 2] : undefined;
  const kind = callKind(c.catalog, c.path, schema, name, f.over !== undefined, f.agg_star === true || f.agg_distinct === true || list(f.agg_order).length > 0 || f.agg_filter !== undefined || f.agg_within_group === true);
  const detail = `${name}()`;
  if (kind.aggregate && f.over === undefined && name === 'count' && isBuiltinName(c.catalog, c.path, schema, name)) {
    // count(col) / count(DISTINCT col) tell how many values there are, not which.
    for (const p of argProvs) if (p.d !== 'column' && p.d !== 'aggregate') c.flowOf(p, 'aggregate', detail);
    return;
  }
  // substring(x FROM pattern) is NULL when the pattern does not match: only the positional form
  // (integer start and length) is safe.
  const patternForm = substringPattern(name, args);
  argProvs.forEach((p, i) => {
    if (p.src.length === 0) return;
    if (patternForm) return c.flowOf(p, 'function', detail);
    const sink = kind.sink(i, args[i]?.NamedArgExpr !== undefined);
    if (sink) c.flowOf(p, sink, detail);
  });
  for (const p of order) c.flowOf(p, f.over !== undefined ? 'window' : 'aggregate', detail);
}

/**
 * `substring(x FROM pattern)`, `substring(x SIMILAR pattern ESCAPE e)`: any form but the
 * positional one (integer constants for start and length).
 */
function substringPattern(name: string, args: readonly Node[]): boolean {
  return name === 'substring' && !args.slice(1).every((a) => a.A_Const?.ival !== undefined || (a.A_Const && constText(a) === '0'));
}

/**
 * A filter use (a join use in a join condition) of each source of `p` under `operator`, whether
 * `p` is a column or computed from one.
 */
function matched(c: Collector, p: Carried, operator: string, inJoin: boolean): void {
  if (p.d === 'aggregate') return;
  for (const s of p.src) c.use({ name: { schema: s.schema, name: s.table, resolved: true } }, s.column, inJoin ? 'join' : 'filter', operator);
}

/**
 * A call of a function that matches a pattern or a search string (`MATCHING_FUNCTIONS`, or the
 * pattern form of substring) is a predicate on the value it searches and on what it searches
 * for, in whatever clause it stands: each stored value there is a `filter` use of its sources
 * under the function's name, so that the filter modes refuse it as they would in WHERE. The
 * positions count only when the pattern (argument 1) is given: `btrim(x)` trims spaces.
 */
export function matchUses(c: Collector, f: Node, args: readonly Node[], argProvs: readonly Carried[], inJoin: boolean): void {
  const written = names(f.funcname).map((x) => x.toLowerCase());
  const schema = written.length > 1 ? written[written.length - 2] : undefined;
  if (schema !== undefined && schema !== 'pg_catalog') return;
  const name = written[written.length - 1] ?? '';
  const positions = substringPattern(name, args) ? [0, 1, 2] : MATCHING_FUNCTIONS.get(name);
  if (!positions || args.length < 2) return;
  argProvs.forEach((p, i) => {
    if (p.src.length > 0 && positions.includes(i)) matched(c, p, name, inJoin);
  });
}

/**
 * An operator that matches a pattern (LIKE, ILIKE, SIMILAR TO, a regular expression, `^@`), also
 * as `op ANY / ALL (…)`: each side's stored values are a `filter` use under it, in whatever clause
 * it stands (see `MATCHING_FUNCTIONS`). `label` is the operator as refusals name it.
 */
export function matchOperatorUses(c: Collector, e: Node, sides: readonly Carried[], label: string, inJoin: boolean): void {
  const n = names(e.name);
  if (n.length > 1 && n[n.length - 2] !== 'pg_catalog') return;
  const kind = e.kind as string;
  const pattern = kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE' || kind === 'AEXPR_SIMILAR' || ((kind === 'AEXPR_OP' || kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') && MATCHING_OPERATORS.has(n.at(-1) ?? ''));
  if (!pattern) return;
  for (const p of sides) if (p.src.length > 0) matched(c, p, label, inJoin);
}
