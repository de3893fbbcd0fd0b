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
import { findQualified, flatItems, type FromItem, type Scope } from './scope.ts';
import type { ColumnUse } from './types.ts';

/** The marker for `*` in a ColumnRef's fields. */
export const STAR: unique symbol = Symbol('*');

export interface Use {
  use: ColumnUse['use'];
  operator?: string;
}

/** Records a read of one visible column of an item. */
function readColumn(c: Collector, item: FromItem, visible: string, use: Use | undefined): void {
  if (!item.rel) return;
  const col = item.cols?.get(visible) ?? visible;
  c.column('select', item.rel, col);
  if (use) c.use(item.rel, col, use.use, use.operator);
}

/** Every column of an item (`t.*`, whole-row). Derived items read theirs already. */
export function readAll(c: Collector, item: FromItem): void {
  if (item.children) {
    for (const ch of item.children) readAll(c, ch);
    return;
  }
  if (item.rel) c.allColumns('select', item.rel);
}

/**
 * Binds an unqualified column name at one level. 'known' when an item's known columns have it;
 * 'open' when only items with unknown columns might (recorded against those, but the name may
 * still belong to an outer level); 'none' otherwise.
 */
function bindAtLevel(c: Collector, items: readonly FromItem[], col: string, use: Use | undefined): 'known' | 'open' | 'none' {
  const flat = flatItems(items);
  let known = false;
  for (const it of flat) {
    if (it.cols?.has(col)) {
      readColumn(c, it, col, use);
      known = true;
    }
  }
  if (known) return 'known';
  let open = false;
  for (const it of flat) {
    if (it.cols === undefined) {
      readColumn(c, it, col, use);
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
function bindQualified(c: Collector, item: FromItem, col: string, use: Use | undefined): void {
  if (item.children) {
    if (bindAtLevel(c, item.children, col, use) === 'none') c.call([col], undefined);
    return;
  }
  if (item.cols === undefined || item.cols.has(col)) {
    readColumn(c, item, col, use);
    return;
  }
  // `t.f` where t has no column f means `f(t)`: a call on the whole row.
  readAll(c, item);
  c.call([col], undefined);
}

/**
 * Resolves a ColumnRef's fields. `fields` holds strings and the marker '*' for A_Star.
 */
export function resolveColumnRef(c: Collector, fields: readonly (string | typeof STAR)[], scope: Scope, use: Use | undefined): void {
  const n = fields.length;
  const last = fields[n - 1];
  if (last === STAR) {
    if (n === 1) {
      for (const it of scope.items) readAll(c, it);
      return;
    }
    const quals = fields.slice(0, -1) as string[];
    const it = quals.length === 1 ? findItem(scope, undefined, quals[0]) : findItem(scope, quals[quals.length - 2], quals[quals.length - 1]);
    if (it) readAll(c, it);
    else if (!scope.isLenient()) c.fail(`cannot resolve ${quals.join('.')}.*`);
    return;
  }
  const names = fields as string[];
  if (n === 1) {
    resolveName(c, names[0], scope, use);
    return;
  }
  if (n >= 3) {
    // schema.table.col (or db.schema.table.col): an unaliased relation named with its schema.
    const it = findItem(scope, names[n - 3], names[n - 2]);
    if (it) {
      bindQualified(c, it, names[n - 1], use);
      return;
    }
  }
  // table.col[.field…]: the first name is a FROM item, or else a column with a composite field.
  const it = findItem(scope, undefined, names[0]);
  if (it) {
    bindQualified(c, it, names[1], use);
    return;
  }
  if (bindName(c, names[0], scope, use) !== 'none') return;
  if (!scope.isLenient()) c.fail(`cannot resolve column reference ${names.join('.')}`);
}

/**
 * Binds a single name as a column, innermost level first. Stops at the first level whose known
 * columns have it; a level where only unknown-column items might have it is recorded and the
 * search goes on outward, since PostgreSQL may bind it further out.
 */
function bindName(c: Collector, col: string, scope: Scope, use: Use | undefined): 'known' | 'open' | 'none' {
  let result: 'open' | 'none' = 'none';
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const r = bindAtLevel(c, s.items, col, use);
    if (r === 'known') return r;
    if (r === 'open') result = r;
  }
  return result;
}

function resolveName(c: Collector, col: string, scope: Scope, use: Use | undefined): void {
  const bound = bindName(c, col, scope, use);
  if (bound === 'known') return;
  // A relation name alone is a whole-row reference (`SELECT c FROM customers c`, `row_to_json(c)`).
  const it = findItem(scope, undefined, col);
  if (it) {
    readAll(c, it);
    return;
  }
  if (bound === 'open') return;
  // An output column name (GROUP BY alias) binds to that output column: already read.
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.outputs?.has(col)) return;
  if (scope.isLenient()) return;
  // Unknown to the catalog: record against every base relation of the innermost level with any.
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const rels = flatItems(s.items).filter((i) => i.rel);
    if (rels.length > 0) {
      for (const r of rels) readColumn(c, r, col, use);
      return;
    }
  }
}
