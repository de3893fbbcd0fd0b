/**
 * Provenance of values: which base columns flow into an expression's value, and how (the value
 * IS a column, is computed from columns, is an aggregate that reveals none of them, or packs them
 * inside a row / JSON / array / string). Computed bottom-up during the one expression walk: every
 * `expr()` returns the `Prov` of its node, and the query walker turns a target list's provenances
 * into the statement's `outputs`.
 *
 * Derivations are ordered from harmless to revealing (none < aggregate < column < expression <
 * opaque); combining values takes the most revealing, so a masker can never under-mask by a
 * wrong merge.
 */
import { list, names, type Node, typeOf } from './ast.ts';
import { ANY_SOURCE, type OutputColumn, type SourceColumn } from './types.ts';

export type Derivation = OutputColumn['derivation'];

export interface Prov {
  /** 'none': the value holds no stored data (a constant, a parameter, `row_number()`). */
  readonly d: Derivation | 'none';
  readonly src: readonly SourceColumn[];
  /** A whole-row value's fields in order, so `(c).ssn` and `(c).*` see through it. */
  readonly fields?: readonly Out[];
}

/** One output column of a query level (or one column of a FROM item), by its visible name. */
export interface Out {
  name: string;
  prov: Prov;
  /**
   * Stands for an unknown number of columns (`*` over a relation the catalog does not know, a
   * composite the analyser cannot see into). The statement's outputs then cannot be matched to
   * the row by position; the caller falls back to RowDescription.
   */
  many?: boolean;
}

export const NONE: Prov = { d: 'none', src: [] };

const RANK: Record<Prov['d'], number> = { none: 0, aggregate: 1, column: 2, expression: 3, opaque: 4 };

export function columnProv(schema: string, table: string, column: string): Prov {
  return { d: 'column', src: [{ schema, table, column }] };
}

function sourcesOf(ps: readonly Prov[]): readonly SourceColumn[] {
  let out: readonly SourceColumn[] | undefined;
  let owned = false;
  for (const p of ps) {
    if (p.src.length === 0) continue;
    if (out === undefined) out = p.src;
    else {
      if (!owned) {
        out = [...out];
        owned = true;
      }
      (out as SourceColumn[]).push(...p.src);
    }
  }
  return out ?? [];
}

function worst(ps: readonly Prov[]): Prov['d'] {
  let d: Prov['d'] = 'none';
  for (const p of ps) if (RANK[p.d] > RANK[d]) d = p.d;
  return d;
}

/**
 * A value that is one of `ps` (COALESCE, GREATEST/LEAST, CASE results, min/max, a set
 * operation's branches): a column when every candidate is a column (or holds no data).
 */
export function choice(ps: readonly Prov[]): Prov {
  if (ps.length === 1) return ps[0];
  const d = worst(ps);
  if (d === 'none') return NONE;
  return { d, src: sourcesOf(ps) };
}

/**
 * A value computed from `ps` (operators, functions, comparisons): an expression of its sources;
 * still an aggregate when it only combines aggregates (`count(ssn) + 1`), still opaque when it
 * holds a packed value (`row_to_json(c)::text`).
 */
export function computed(ps: readonly Prov[]): Prov {
  const d = worst(ps);
  if (d === 'none') return NONE;
  if (d === 'aggregate') return ps.length === 1 ? ps[0] : { d, src: sourcesOf(ps) };
  return { d: d === 'opaque' ? 'opaque' : 'expression', src: sourcesOf(ps) };
}

/** A value that packs `ps` inside it (a row, an array, JSON, a string aggregate). */
export function packed(ps: readonly Prov[]): Prov {
  const src = sourcesOf(ps);
  return src.length === 0 ? NONE : { d: 'opaque', src };
}

/** An aggregate revealing no value of its arguments (`count(ssn)`, `count(*)`). */
export function counted(ps: readonly Prov[]): Prov {
  return { d: 'aggregate', src: sourcesOf(ps) };
}

/**
 * A value computed by user code (a function, operator or cast created in the database): it may
 * hold anything the upstream role can read, so besides its inputs it has `ANY_SOURCE`.
 */
export function untrusted(p: Prov): Prov {
  return { d: p.d === 'opaque' ? 'opaque' : 'expression', src: [...p.src, ANY_SOURCE] };
}

/** A whole row (`c`, `c.*` as one value, a subquery's row): opaque, with its fields kept. */
export function wholeRow(fields: readonly Out[]): Prov {
  return { d: 'opaque', src: sourcesOf(fields.map((f) => f.prov)), fields };
}

/** The prov of a field of a row value, by name (`(c).ssn`); anything else is computed from it. */
export function fieldOf(p: Prov, name: string): Prov {
  const f = p.fields?.find((x) => x.name === name && !x.many);
  return f ? f.prov : computed([p]);
}

/** The statement's outputs: sources deduplicated, data-free values as sourceless expressions. */
export function toOutputs(outs: readonly Out[]): OutputColumn[] {
  const out: OutputColumn[] = new Array(outs.length);
  for (let i = 0; i < outs.length; i++) {
    const o = outs[i];
    const src = o.prov.src;
    let sources: SourceColumn[];
    if (src.length <= 1) {
      sources = src.length === 0 ? [] : [{ schema: src[0].schema, table: src[0].table, column: src[0].column }];
    } else {
      const seen = new Set<string>();
      sources = [];
      for (const s of src) {
        const k = `${s.schema}\u0000${s.table}\u0000${s.column}`;
        if (seen.has(k)) continue;
        seen.add(k);
        sources.push({ schema: s.schema, table: s.table, column: s.column });
      }
    }
    out[i] = { name: o.name, sources, derivation: o.prov.d === 'none' ? 'expression' : o.prov.d };
  }
  return out;
}

/** Output names for a derived FROM item; undefined when a `*` could not be expanded. */
export function outNames(outs: readonly Out[] | undefined): string[] | undefined {
  if (!outs || outs.some((o) => o.many)) return undefined;
  return outs.map((o) => o.name);
}

/** A derived item's outputs under its alias column names (renamed by position). */
export function renamed(outs: readonly Out[] | undefined, aliasCols: readonly string[]): Out[] | undefined {
  if (!outs) return undefined;
  if (aliasCols.length === 0) return outs as Out[];
  return outs.map((o, i) => (i < aliasCols.length && !o.many ? { name: aliasCols[i], prov: o.prov } : o));
}

// ── function classification ────────────────────────────────────────────────────────────────

/** Aggregates whose value reveals none of their arguments' values. */
const COUNTING = new Set(['count']);

/** Aggregates and window functions that return one of their argument's values. */
const PICKING = new Set(['min', 'max', 'any_value', 'first_value', 'last_value', 'nth_value', 'lag', 'lead']);

/** Window functions that number or rank rows: no stored value. */
const RANKING = new Set(['row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile']);

/** Functions and aggregates that pack values (or rows) into JSON, arrays, records, XML or strings. */
const PACKING = new Set([
  'row_to_json', 'to_json', 'to_jsonb', 'array_to_json', 'json_build_object', 'jsonb_build_object', 'json_build_array',
  'jsonb_build_array', 'json_object', 'jsonb_object', 'json_agg', 'jsonb_agg', 'json_agg_strict', 'jsonb_agg_strict',
  'json_object_agg', 'jsonb_object_agg', 'json_object_agg_strict', 'jsonb_object_agg_strict', 'json_object_agg_unique',
  'jsonb_object_agg_unique', 'json_object_agg_unique_strict', 'jsonb_object_agg_unique_strict', 'json_populate_record',
  'jsonb_populate_record', 'json_populate_recordset', 'jsonb_populate_recordset', 'string_agg', 'array_agg', 'xmlagg',
  'hstore', 'row', 'array_append', 'array_prepend', 'array_cat', 'jsonb_set', 'jsonb_insert', 'json_strip_nulls',
  'jsonb_strip_nulls', 'jsonb_pretty',
]);

/**
 * The provenance of a function call from its arguments' (`args`) and, for ordered-set
 * aggregates, its WITHIN GROUP ordering's (`order`).
 */
export function callProv(f: Node, args: readonly Prov[], order: readonly Prov[]): Prov {
  const written = names(f.funcname);
  const schema = written.length > 1 ? written[written.length - 2] : undefined;
  const name = (written[written.length - 1] ?? '').toLowerCase();
  if (schema !== undefined && schema !== 'pg_catalog') return computed(args);
  if (COUNTING.has(name)) return counted(args);
  if (RANKING.has(name) && f.over) return NONE;
  if (f.agg_within_group) {
    // mode() / percentile_disc() return one of the ordered values; the others compute from them.
    if (name === 'mode' || name === 'percentile_disc') return choice(order);
    return computed([...args, ...order]);
  }
  if (PICKING.has(name)) {
    if (name === 'lag' || name === 'lead') return choice(args.filter((_, i) => i !== 1));
    if (name === 'nth_value') return choice(args.slice(0, 1));
    return choice(args);
  }
  if (PACKING.has(name)) return packed(args);
  return computed(args);
}

// ── column labels, as PostgreSQL's FigureColname gives them ─────────────────────────────────

const SVF_NAMES: Record<string, string> = {
  SVFOP_CURRENT_DATE: 'current_date',
  SVFOP_CURRENT_TIME: 'current_time',
  SVFOP_CURRENT_TIME_N: 'current_time',
  SVFOP_CURRENT_TIMESTAMP: 'current_timestamp',
  SVFOP_CURRENT_TIMESTAMP_N: 'current_timestamp',
  SVFOP_LOCALTIME: 'localtime',
  SVFOP_LOCALTIME_N: 'localtime',
  SVFOP_LOCALTIMESTAMP: 'localtimestamp',
  SVFOP_LOCALTIMESTAMP_N: 'localtimestamp',
  SVFOP_CURRENT_ROLE: 'current_role',
  SVFOP_CURRENT_USER: 'current_user',
  SVFOP_USER: 'user',
  SVFOP_SESSION_USER: 'session_user',
  SVFOP_CURRENT_CATALOG: 'current_catalog',
  SVFOP_CURRENT_SCHEMA: 'current_schema',
};

const XML_NAMES: Record<string, string> = {
  IS_XMLCONCAT: 'xmlconcat',
  IS_XMLELEMENT: 'xmlelement',
  IS_XMLFOREST: 'xmlforest',
  IS_XMLPARSE: 'xmlparse',
  IS_XMLPI: 'xmlpi',
  IS_XMLROOT: 'xmlroot',
  IS_XMLSERIALIZE: 'xmlserialize',
};

const JSON_FUNC_NAMES: Record<string, string> = {
  JSON_EXISTS_OP: 'json_exists',
  JSON_QUERY_OP: 'json_query',
  JSON_VALUE_OP: 'json_value',
  JSON_TABLE_OP: 'json_table',
};

/** The label of an unnamed output expression (`?column?` when PostgreSQL has none). */
export function columnLabel(n: Node | undefined): string {
  return figure(n)[0] ?? '?column?';
}

/** [name, strength]: strength 2 for a real name, 1 for a fallback (type name, `case`). */
function figure(n: Node | undefined): [string | undefined, number] {
  if (!n) return [undefined, 0];
  const type = typeOf(n);
  const e = n[type] as Node;
  switch (type) {
    case 'ColumnRef': {
      let last: string | undefined;
      for (const f of list(e.fields)) if (f.String) last = f.String.sval ?? '';
      return last !== undefined ? [last, 2] : [undefined, 0];
    }
    case 'A_Indirection': {
      let last: string | undefined;
      for (const f of list(e.indirection)) if (f.String) last = f.String.sval ?? '';
      return last !== undefined ? [last, 2] : figure(e.arg);
    }
    case 'FuncCall':
      return [names(e.funcname).at(-1), 2];
    case 'A_Expr':
      return e.kind === 'AEXPR_NULLIF' ? ['nullif', 2] : [undefined, 0];
    case 'TypeCast': {
      const inner = figure(e.arg);
      if (inner[1] > 1) return inner;
      const tn = names(e.typeName?.names).at(-1);
      return tn !== undefined ? [tn, 1] : inner;
    }
    case 'CollateClause':
      return figure(e.arg);
    case 'GroupingFunc':
      return ['grouping', 2];
    case 'MergeSupportFunc':
      return ['merge_action', 2];
    case 'SubLink':
      switch (e.subLinkType as string) {
        case 'EXISTS_SUBLINK':
          return ['exists', 2];
        case 'ARRAY_SUBLINK':
          return ['array', 2];
        case 'EXPR_SUBLINK':
          return [firstTargetName(e.subselect), 2];
        default:
          return [undefined, 0];
      }
    case 'CaseExpr': {
      const inner = figure(e.defresult);
      return inner[1] > 1 ? inner : ['case', 1];
    }
    case 'A_ArrayExpr':
      return ['array', 2];
    case 'RowExpr':
      return ['row', 2];
    case 'CoalesceExpr':
      return ['coalesce', 2];
    case 'MinMaxExpr':
      return [e.op === 'IS_LEAST' ? 'least' : 'greatest', 2];
    case 'SQLValueFunction':
      return [SVF_NAMES[e.op as string], 2];
    case 'XmlExpr':
      return [XML_NAMES[e.op as string], 2];
    case 'XmlSerialize':
      return ['xmlserialize', 2];
    case 'JsonParseExpr':
      return ['json', 2];
    case 'JsonScalarExpr':
      return ['json_scalar', 2];
    case 'JsonSerializeExpr':
      return ['json_serialize', 2];
    case 'JsonObjectConstructor':
      return ['json_object', 2];
    case 'JsonArrayConstructor':
    case 'JsonArrayQueryConstructor':
      return ['json_array', 2];
    case 'JsonObjectAgg':
      return ['json_objectagg', 2];
    case 'JsonArrayAgg':
      return ['json_arrayagg', 2];
    case 'JsonFuncExpr':
      return [JSON_FUNC_NAMES[e.op as string], 2];
    default:
      return [undefined, 0];
  }
}

/** The label of a subquery's first output (a scalar subquery is named after it). */
function firstTargetName(q: Node | undefined): string {
  let s = q?.SelectStmt as Node | undefined;
  while (s && s.op && s.op !== 'SETOP_NONE') s = s.larg as Node | undefined;
  if (!s) return '?column?';
  if (s.valuesLists) return 'column1';
  const t = list(s.targetList)[0]?.ResTarget as Node | undefined;
  if (!t) return '?column?';
  return t.name ?? columnLabel(t.val);
}
