/**
 * Reads of views made on the database. Masking rules name columns (`public.customers.ssn`); a
 * view created directly on the database (`CREATE VIEW v AS SELECT id, ssn AS s FROM customers`,
 * or an older reporting view) returns a base table's values under its own names, and its rows
 * can be chosen by them (`WHERE ssn LIKE '9%'` in its query). Through the gateway such a view
 * cannot be created (a write of the masked value), but one made elsewhere was read in clear.
 *
 * So a statement that uses a view (or materialized view) made since initdb is decided on the
 * view's query too, as if the identity ran it: the catalog's `viewDefinition`
 * (`pg_get_viewdef`), analysed with the gateway's own analyser under the search_path it was
 * printed for, at any depth of views:
 * - masking's refusals of that query apply (a whole row, a filter or a flow its rules forbid);
 * - each of the view's columns a masked value flows into must have a masking rule of its own
 *   (`public.contacts_v.mail`), since the statement reading the view is masked by the view's
 *   column names and the server's description of them, which name the view; so must each
 *   column computed by user code (a function, operator or cast made in the database), which
 *   may return any stored value and is masked as a whole when read directly.
 * A query that cannot be analysed counts as reading every column of the relations it depends
 * on. Views whose query reads no masked column are not affected.
 */
import type { CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';
import { isUserCodeValue, statementRefusal, type MaskingScope } from '../masking/index.ts';
import { analyse, type StatementAnalysis } from '../sql/index.ts';

/** A view's query analysed, per view object (one per catalog load); null when it cannot be. */
const QUERIES = new WeakMap<CatalogRelation, StatementAnalysis[] | null>();
const MAX_DEPTH = 16;

function queryOf(view: CatalogRelation, catalog: CatalogSnapshot): StatementAnalysis[] | null {
  const known = QUERIES.get(view);
  if (known !== undefined) return known;
  let analyses: StatementAnalysis[] | null = null;
  try {
    if (view.viewDefinition !== undefined) analyses = analyse(view.viewDefinition, { catalog, searchPath: catalog.defaultSearchPath });
    if (analyses?.some((a) => a.unsupported !== undefined || a.outputs === undefined)) analyses = null;
  } catch {
    analyses = null;
  }
  QUERIES.set(view, analyses);
  return analyses;
}

function isView(kind: string | undefined): boolean {
  return kind === 'view' || kind === 'materialized_view';
}

/** Why a view may not be used by this identity, or undefined. */
function viewRefusal(view: CatalogRelation, catalog: CatalogSnapshot, masks: MaskingScope, depth: number, seen: Set<number>): string | undefined {
  // Views made by initdb read system catalogs only (the catalog policy governs those).
  if (view.oid < 16384 || seen.has(view.oid)) return undefined;
  seen.add(view.oid);
  const name = `${view.schema}.${view.name}`;
  if (depth > MAX_DEPTH) return `views nest deeper than ${MAX_DEPTH} under ${name}`;
  const analyses = queryOf(view, catalog);
  if (!analyses) {
    const dep = (view.viewDependencies ?? []).find((d) => masks.relationSensitive(d.schema, d.name, catalog.relations.get(`${d.schema}.${d.name}`)?.columns.map((c) => c.name)));
    return dep ? `the gateway could not analyse its query, which reads ${dep.schema}.${dep.name}, whose columns masking rules govern` : undefined;
  }
  for (const a of analyses) {
    for (const t of a.tables) {
      const inner = isView(t.relation.kind) && t.relation.oid !== undefined ? catalog.relationsByOid.get(t.relation.oid) : undefined;
      const why = inner && viewRefusal(inner, catalog, masks, depth + 1, seen);
      if (why) return why;
    }
    const refused = statementRefusal(masks, a);
    if (refused) return `its query would be refused: ${refused.replace(/^pgwarden: /, '')}`;
    for (const [i, o] of (a.outputs ?? []).entries()) {
      const masked = o.sources.find((s) => masks.ruleFor(s.schema, s.table, s.column));
      const column = view.columns[i]?.name ?? o.name;
      // A value computed by user code may be any stored value: read directly it is masked as a
      // whole (masking/plan.ts); through the view it would come back under the view's name.
      if (!masked && o.derivation !== 'aggregate' && o.sources.some(isUserCodeValue) && !masks.ruleFor(view.schema, view.name, column)) {
        return `its column ${column} is computed by code made in the database, which may return any stored value, and no masking rule names ${name}.${column}`;
      }
      if (masked && !masks.ruleFor(view.schema, view.name, column)) {
        return `its column ${column} carries masked column ${masked.schema}.${masked.table}.${masked.column}, and no masking rule names ${name}.${column}`;
      }
    }
  }
  return undefined;
}

/** Masking's refusal of a statement that uses a view made on the database over masked columns. */
export function viewReadRefusal(masks: MaskingScope, catalog: CatalogSnapshot | null, analyses: StatementAnalysis[]): { message: string; hint: string } | null {
  if (!masks.hasRules || !catalog) return null;
  for (const top of analyses) {
    for (let a: StatementAnalysis | undefined = top, d = 0; a !== undefined && d <= MAX_DEPTH; a = a.inner, d++) {
      for (const t of a.tables) {
        if (!isView(t.relation.kind) || t.relation.oid === undefined) continue;
        const view = catalog.relationsByOid.get(t.relation.oid);
        const why = view && viewRefusal(view, catalog, masks, 0, new Set());
        if (!view || !why) continue;
        return {
          message: `pgwarden: ${masks.subject} may not use view ${view.schema}.${view.name}: ${why}`,
          hint: 'Masking follows values through a view made on the database only where the view\'s own columns have masking rules; read the base table (its masked columns come back masked), or give the view\'s columns rules.',
        };
      }
    }
  }
  return null;
}
