/**
 * Column references: binding `col`, `t.col`, `s.t.col`, `t.*`, `*` and whole-row references to
 * FROM items, innermost level first, the way PostgreSQL's transformColumnRef does, and recording
 * the reads (and filter/join/group/order uses) against base relations.
 *
 * When a name binds to nothing the analyser errs on the side of recording: an unqualified name no
 * catalog column has is recorded against every base relation of the innermost level (the catalog
 * may be older than the table); a qualified name whose qualifier is unknown makes the statement
 * unsupported (PostgreSQL would reject it, so refusing loses nothing and guards against scopes
 * the analyser does not model).
 */
import type { Collector } from './collector.ts';
import { choice, computed, NONE, type Out, type Prov, untrusted, wholeRow } from './provenance.ts';
import { expandItem, findQualified, flatItems, type FromItem, itemProv, type Scope } from './scope.ts';
import type { ColumnUse } from './types.ts';

/** The system columns every table has (PostgreSQL's SystemAttributeByName; oid is a plain column since 12). */
export const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid']);

/** The marker for `*` in a ColumnRef's fields. */
export const STAR: unique symbol = Symbol('*');

export interface Use {
  use: ColumnUse['use'];
  operator?: string;
}

/**
 * Records a read of one visible column of an item; returns the column's provenance. A read with
 * a use (filter, join, group, order) records the use against the base column; a derived item's
 * column (subquery, CTE, function) records it against the base columns its value comes from, so
 * a predicate on `(SELECT ssn AS s …) x WHERE s LIKE …` is a predicate on ssn. The provenance is
 * returned in either case: where the value goes next (a cast, a function) is a flow of its own.
 */
function readColumn(c: Collector, item: FromItem, visible: string, use: Use | undefined): Prov {
  if (!item.rel) {
    const p = itemProv(item, visible);
    if (use) c.useSources(p, use.use, use.operator);
    return p;
  }
  const col = item.cols?.get(visible) ?? visible;
  c.column('select', item.rel, col);
  if (use) c.use(item.rel, col, use.use, use.operator);
  return itemProv(item, visible);
}

/** Every column of an item (`t.*`, whole-row). Derived items read theirs already. */
export function readAll(c: Collector, item: FromItem): void {
  if (item.children && item.usingOnly) {
    for (const u of item.using ?? []) bindAtLevel(c, item.children, u, undefined, []);
    return;
  }
  if (item.children) {
    for (const ch of item.children) readAll(c, ch);
    return;
  }
  if (item.rel) c.allColumns('select', item.rel);
}

/**
 * A whole-row reference to an item (`c`, `c.*` as one value): reads every column. Used in a
 * predicate (`c::text LIKE …`, `c >= ROW(…)::customers`, `d IN (SELECT ROW(…))`) it is a use of
 * every column of the row under the same operator or function, so a column's filter mode decides
 * it as it would decide the column written alone (`Collector.useSources` goes through the fields).
 */
function rowOf(c: Collector, item: FromItem, use: Use | undefined): Prov {
  readAll(c, item);
  const p = wholeRow(expandItem(item));
  if (use) c.useSources(p, use.use, use.operator);
  return p;
}

/**
 * Binds an unqualified column name at one level. 'known' when an item's known columns have it;
 * 'open' when only items with unknown columns might (recorded against those, but the name may
 * still belong to an outer level); 'none' otherwise.
 */
function bindAtLevel(c: Collector, items: readonly FromItem[], col: string, use: Use | undefined, acc: Prov[]): 'known' | 'open' | 'none' {
  const flat = flatItems(items);
  let known = false;
  for (const it of flat) {
    if (it.cols?.has(col)) {
      acc.push(readColumn(c, it, col, use));
      known = true;
    }
  }
  if (known) return 'known';
  let open = false;
  for (const it of flat) {
    if (it.cols === undefined) {
      acc.push(readColumn(c, it, col, use));
      open = true;
    }
  }
  return open ? 'open' : 'none';
}

/** Finds the item a qualifier names, innermost level first. */
function findItem(scope: Scope, schema: string | undefined, name: string): FromItem | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const it = findQualified(s.items, schema, name);
    if (it) return it;
  }
  return undefined;
}

/** Binds `item.col`: the column, or (no such column) PostgreSQL's functional notation `col(item)`. */
function bindQualified(c: Collector, item: FromItem, col: string, use: Use | undefined): Prov {
  if (item.children) {
    const acc: Prov[] = [];
    if (bindAtLevel(c, item.children, col, use, acc) !== 'none') return choice(acc);
    return functionalNotation(c, item, col, use);
  }
  if (item.cols === undefined || item.cols.has(col)) return readColumn(c, item, col, use);
  // A system column of a table (`t.ctid`, `t.xmin`, `c.tableoid`) before functional notation, as
  // PostgreSQL binds it; a view has none.
  if (item.rel && SYSTEM_COLUMNS.has(col) && item.rel.catalog?.kind !== 'view') return readColumn(c, item, col, use);
  return functionalNotation(c, item, col, use);
}

/**
 * `t.f` where t has no column f means `f(t)`: a call on the whole row (user code: any value). In
 * a predicate every column of the row is used inside f(), as a column passed to f would be.
 */
function functionalNotation(c: Collector, item: FromItem, col: string, use: Use | undefined): Prov {
  const user = c.call([col], undefined, 1);
  const row = rowOf(c, item, use && { use: use.use, operator: col.toLowerCase() });
  return user ? untrusted(computed([row])) : computed([row]);
}

/** The item a qualified `q.*` / `s.q.*` names, or undefined (recorded as a failure). */
function starItem(c: Collector, fields: readonly (string | typeof STAR)[], scope: Scope): FromItem | undefined {
  const quals = fields.slice(0, -1) as string[];
  const it = quals.length === 1 ? findItem(scope, undefined, quals[0]) : findItem(scope, quals[quals.length - 2], quals[quals.length - 1]);
  if (!it && !scope.isLenient()) c.fail(`cannot resolve ${quals.join('.')}.*`);
  return it;
}

/**
 * `*` / `t.*` as a target list entry: the columns it expands to, in order, with every column read.
 * A bare `*` expands the items of `bare` (a RETURNING lists the statement's own level).
 */
export function expandStar(c: Collector, fields: readonly (string | typeof STAR)[], scope: Scope, bare: Scope = scope): Out[] {
  const items = fields.length === 1 ? bare.items : [starItem(c, fields, scope)].filter((x): x is FromItem => x !== undefined);
  const out: Out[] = [];
  for (const it of items) {
    readAll(c, it);
    out.push(...expandItem(it));
  }
  return out;
}

/**
 * Resolves a ColumnRef's fields (strings and the marker STAR for A_Star), recording the reads;
 * returns the provenance of the value (a whole row for `t` / `t.*`).
 */
export function resolveColumnRef(c: Collector, fields: readonly (string | typeof STAR)[], scope: Scope, use: Use | undefined): Prov {
  const n = fields.length;
  const last = fields[n - 1];
  if (last === STAR) {
    if (n === 1) {
      const all: Out[] = [];
      for (const it of scope.items) {
        readAll(c, it);
        all.push(...expandItem(it));
      }
      const row = wholeRow(all);
      if (use) c.useSources(row, use.use, use.operator);
      return row;
    }
    const it = starItem(c, fields, scope);
    return it ? rowOf(c, it, use) : NONE;
  }
  const names = fields as string[];
  if (n === 1) return resolveName(c, names[0], scope, use);
  if (n >= 3) {
    // schema.table.col (or db.schema.table.col): an unaliased relation named with its schema.
    const it = findItem(scope, names[n - 3], names[n - 2]);
    if (it) return bindQualified(c, it, names[n - 1], use);
  }
  // table.col[.field…]: the first name is a FROM item, or else a column with a composite field.
  const it = findItem(scope, undefined, names[0]);
  if (it) {
    const p = bindQualified(c, it, names[1], use);
    return n > 2 ? computed([p]) : p;
  }
  const acc: Prov[] = [];
  if (bindName(c, names[0], scope, use, acc) !== 'none') return computed(acc);
  if (!scope.isLenient()) c.fail(`cannot resolve column reference ${names.join('.')}`);
  return NONE;
}

/**
 * Binds a single name as a column, innermost level first. Stops at the first level whose known
 * columns have it; a level where only unknown-column items might have it is recorded and the
 * search goes on outward, since PostgreSQL may bind it further out.
 */
function bindName(c: Collector, col: string, scope: Scope, use: Use | undefined, acc: Prov[]): 'known' | 'open' | 'none' {
  let result: 'open' | 'none' = 'none';
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const r = bindAtLevel(c, s.items, col, use, acc);
    if (r === 'known') return r;
    if (r === 'open') result = r;
  }
  return result;
}

function resolveName(c: Collector, col: string, scope: Scope, use: Use | undefined): Prov {
  const acc: Prov[] = [];
  const bound = bindName(c, col, scope, use, acc);
  if (bound === 'known') return choice(acc);
  // A relation name alone is a whole-row reference (`SELECT c FROM customers c`, `row_to_json(c)`).
  const it = findItem(scope, undefined, col);
  if (it) {
    acc.push(rowOf(c, it, use));
    return choice(acc);
  }
  if (bound === 'open') return choice(acc);
  // An output column name (GROUP BY alias) binds to that output column: already read.
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.outputs?.has(col)) return NONE;
  if (scope.isLenient()) return NONE;
  // Unknown to the catalog: record against every base relation of the innermost level with any.
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const rels = flatItems(s.items).filter((i) => i.rel);
    if (rels.length > 0) {
      for (const r of rels) acc.push(readColumn(c, r, col, use));
      return choice(acc);
    }
  }
  return NONE;
}
