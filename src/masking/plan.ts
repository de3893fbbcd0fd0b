/**
 * Mask plans: for one result set, which output columns are masked and with what.
 *
 * Two kinds of evidence, combined so that either one is enough to mask:
 * - the server's RowDescription: a field whose table OID and attribute number name a column a rule
 *   covers IS that column's value (PostgreSQL sets them only for a plain column reference). This
 *   catches what the analysis missed, and is authoritative for that field;
 * - the statement analysis (`outputs`): provenance through expressions, casts, CASE, subqueries,
 *   views, which RowDescription cannot see (it reports table OID 0 for `lower(email)`).
 *
 * When the analysis cannot be matched to the fields (missing, or a different count) and the
 * statement reads a sensitive relation, the plan fails closed: every field not proven clean by
 * RowDescription is masked (text-like → redact, anything else → NULL), and a note says so.
 * Whole rows, JSON and array/string aggregation of a masked column are refused before the
 * statement runs (`refusalFor`): the value cannot be masked inside them reliably.
 */
import { isUserCodeValue } from './filter.ts';
import type { FieldDescription } from '../protocol/index.ts';
import { qualified } from '../policy/pattern.ts';
import type { OutputColumn, SourceColumn } from '../sql/types.ts';
import { formatOf, isTextLike } from './pg-types.ts';
import type { CellMasker, MaskingScope, MaskPlan, MaskRule, PlanColumn, PlanRefusal } from './types.ts';

/** What planFor needs of a relation named by a RowDescription table OID. */
export interface RelationInfo {
  schema: string;
  name: string;
  columns: readonly { name: string; attnum: number; typeOid?: number; typeName?: string }[];
}

export type RelationLookup = (oid: number) => RelationInfo | undefined;

/** A relation the statement reads (its analysis' tables), for the fail-closed fallback. */
export interface StatementRelation {
  schema: string;
  name: string;
  /** The relation's columns when known (the catalog's); otherwise any column is assumed. */
  columns?: readonly string[];
}

function emptyPlan(n: number): MaskPlan {
  return { columns: new Array<CellMasker | null>(n).fill(null), any: false, described: [], notes: [] };
}

function sensitiveRules(scope: MaskingScope, sources: readonly SourceColumn[]): MaskRule[] {
  const out: MaskRule[] = [];
  for (const s of sources) {
    const r = scope.ruleFor(s.schema, s.table, s.column);
    if (r) out.push(r);
  }
  return out;
}

/**
 * The refusal for outputs that pack a masked column inside a whole row, a record, JSON or an
 * array/string aggregate; null when there is none. The gate calls this at decision time (the
 * statement never runs); planFor calls it again as a backstop.
 */
export function refusalFor(scope: MaskingScope, outputs: readonly OutputColumn[] | undefined): string | null {
  if (!outputs || !scope.hasRules) return null;
  for (const o of outputs) {
    if (o.derivation !== 'opaque') continue;
    for (const s of o.sources) {
      if (scope.ruleFor(s.schema, s.table, s.column)) {
        return `pgwarden: ${scope.subject} may not read ${qualified(s.schema, s.table, s.column)} inside a whole row, JSON or aggregate; select the columns by name`;
      }
    }
  }
  return null;
}

/** The masker for an analysed output, or null when it passes. */
function outputMasker(scope: MaskingScope, o: OutputColumn, typeOid: number, format: 0 | 1, textLike: boolean): CellMasker | null {
  // User code may return any masked value: masked as a whole wherever any rule applies.
  if (scope.hasRules && o.derivation !== 'aggregate' && o.sources.some(isUserCodeValue)) return scope.expressionMasker(typeOid, format, textLike);
  const rules = sensitiveRules(scope, o.sources);
  if (rules.length === 0) return null;
  switch (o.derivation) {
    case 'aggregate':
      return null;
    case 'column':
      // COALESCE(email, phone) and the like: one masker when every source agrees, else redact.
      return rules.every((r) => r === rules[0]) ? scope.maskerFor(rules[0], typeOid, format, textLike) : scope.expressionMasker(typeOid, format, textLike);
    case 'expression':
    case 'opaque':
      return scope.expressionMasker(typeOid, format, textLike);
  }
}

const CITEXT = /(^|\.)citext$/;

/**
 * The mask plan of one result set. `fields` from RowDescription; `outputs` from the statement's
 * analysis; `relationsByOid` resolves RowDescription table OIDs (the catalog); `resultFormats` are
 * Bind's result-format codes (omitted: each field's own format code); `relations` are the
 * relations the statement reads (omitted: assumed sensitive whenever a rule applies).
 */
export function planFor(
  scope: MaskingScope,
  fields: readonly FieldDescription[],
  outputs: readonly OutputColumn[] | undefined,
  relationsByOid: RelationLookup,
  resultFormats?: readonly number[],
  relations?: readonly StatementRelation[],
): MaskPlan | PlanRefusal {
  if (scope.empty) return emptyPlan(fields.length);
  const refusal = refusalFor(scope, outputs);
  if (refusal) return { refuse: refusal };

  const usable = outputs !== undefined && outputs.length === fields.length;
  const fallback = !usable && scope.hasRules && (relations === undefined || relations.some((r) => scope.relationSensitive(r.schema, r.name, r.columns)));
  const notes: string[] = [];
  const fallbackNote =
    outputs === undefined
      ? 'no output provenance for a statement reading a masked relation: every column not proven clean is masked'
      : `output provenance has ${outputs.length} columns for ${fields.length} fields: every column not proven clean is masked`;

  // Resolve RowDescription provenance first: a citext column named there tells us citext's OID.
  const origins = fields.map((f) => {
    if (f.tableOid === 0 || f.attnum <= 0) return undefined;
    const rel = relationsByOid(f.tableOid);
    const col = rel?.columns.find((c) => c.attnum === f.attnum);
    return rel && col ? { rel, col } : undefined;
  });
  const textOids = new Set<number>();
  origins.forEach((o, i) => {
    if (o?.col.typeName !== undefined && CITEXT.test(o.col.typeName)) textOids.add(fields[i].typeOid);
  });

  const columns = new Array<CellMasker | null>(fields.length).fill(null);
  const described: PlanColumn[] = [];
  let any = false;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const format = formatOf(i, resultFormats, f.format);
    const textLike = isTextLike(f.typeOid) || textOids.has(f.typeOid);
    const origin = origins[i];
    let masker: CellMasker | null = null;
    let evidence: PlanColumn['evidence'] = 'row_description';
    const rule = origin && scope.ruleFor(origin.rel.schema, origin.rel.name, origin.col.name);
    if (rule) masker = scope.maskerFor(rule, f.typeOid, format, textLike);
    else if (usable) {
      masker = outputMasker(scope, outputs[i], f.typeOid, format, textLike);
      evidence = 'analysis';
    } else if (fallback && !origin) {
      masker = scope.expressionMasker(f.typeOid, format, textLike);
      evidence = 'fallback';
      if (notes.length === 0) notes.push(fallbackNote);
    }
    if (masker === null) {
      const d = scope.detectMasker(f.typeOid, format, textLike);
      if (d) {
        masker = d;
        evidence = 'detect';
      }
    }
    if (masker) {
      columns[i] = masker;
      any = true;
      described.push({ index: i, name: f.name, masker: masker.label, evidence });
    }
  }
  return { columns, any, described, notes };
}

/** One column of a `COPY … TO STDOUT`: a table column, or an output of `COPY (query)`. */
export type CopyColumn = { schema: string; table: string; column: string; typeOid: number } | { output: OutputColumn; typeOid: number };

/**
 * The plan of a `COPY … TO STDOUT` (values are in text form, COPY-escaped: see copy.ts). A type
 * OID of 0 (unknown to the caller) is treated as text. Binary COPY of a masked column is refused:
 * its values cannot be rewritten without knowing every type's binary form.
 */
export function planForCopy(scope: MaskingScope, columns: readonly CopyColumn[], format: 'text' | 'csv' | 'binary'): MaskPlan | PlanRefusal {
  if (scope.empty) return emptyPlan(columns.length);
  const outputs = columns.map((c): OutputColumn => ('output' in c ? c.output : { name: c.column, sources: [{ schema: c.schema, table: c.table, column: c.column }], derivation: 'column' }));
  const refusal = refusalFor(scope, outputs);
  if (refusal) return { refuse: refusal };
  const masks = new Array<CellMasker | null>(columns.length).fill(null);
  const described: PlanColumn[] = [];
  let any = false;
  for (let i = 0; i < columns.length; i++) {
    const typeOid = columns[i].typeOid;
    const textLike = typeOid === 0 || isTextLike(typeOid);
    let masker = outputMasker(scope, outputs[i], typeOid, 0, textLike);
    let evidence: PlanColumn['evidence'] = 'analysis';
    if (masker && format === 'binary') {
      const s = outputs[i].sources.find((x) => scope.ruleFor(x.schema, x.table, x.column));
      const what = s ? qualified(s.schema, s.table, s.column) : outputs[i].name;
      return { refuse: `pgwarden: ${scope.subject} may not copy masked column ${what} in binary format; use COPY … (FORMAT text) or (FORMAT csv)` };
    }
    if (!masker && format !== 'binary') {
      const d = scope.detectMasker(typeOid, 0, textLike);
      if (d) {
        masker = d;
        evidence = 'detect';
      }
    }
    if (masker) {
      masks[i] = masker;
      any = true;
      described.push({ index: i, name: outputs[i].name, masker: masker.label, evidence });
    }
  }
  return { columns: masks, any, described, notes: [] };
}
