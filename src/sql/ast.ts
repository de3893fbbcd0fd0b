/**
 * Shape helpers over libpg-query's JSON parse tree.
 *
 * The tree is plain JSON: a node in a list or an untyped field is wrapped as `{ TypeName: {…} }`,
 * while typed fields hold the bare object (`DeleteStmt.relation` is a bare RangeVar). Fields equal
 * to their zero value are omitted (`ival: {}` is 0, a missing boolean is false), so every reader
 * here treats "absent" as the zero value rather than as "unknown".
 */

/** A node's payload (the object inside `{ TypeName: payload }`), or a bare typed field. */
// The parse tree is walked by shape; its generated types do not model the wrapped/bare duality.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = Record<string, any>;

/** The type name of a wrapped node, e.g. 'SelectStmt' for `{ SelectStmt: {…} }`. */
export function typeOf(wrapped: Node): string {
  for (const k in wrapped) return k;
  return '';
}

/** Unwraps `{ Type: payload }` when the key is `type`; returns a bare payload as is. */
export function unwrap(n: Node | undefined, type: string): Node | undefined {
  if (n === undefined || n === null) return undefined;
  const inner = n[type];
  return inner !== undefined && typeof inner === 'object' ? inner : n;
}

/** A list field (absent means empty). */
export function list(x: unknown): Node[] {
  return Array.isArray(x) ? (x as Node[]) : [];
}

/** The items of a `{ List: { items } }` node or of a plain array. */
export function listItems(x: Node | undefined): Node[] {
  if (!x) return [];
  if (Array.isArray(x)) return x as Node[];
  if (x.List) return list(x.List.items);
  return [x];
}

/** The `sval` of a `{ String: { sval } }` node; undefined for anything else. */
export function str(n: Node | undefined): string | undefined {
  if (!n) return undefined;
  if (n.String) return n.String.sval ?? '';
  return undefined;
}

/** The strings of a name list like `[{String:{sval:'public'}},{String:{sval:'t'}}]`. */
export function names(x: unknown): string[] {
  const out: string[] = [];
  for (const n of list(x)) {
    const s = str(n);
    if (s !== undefined) out.push(s);
  }
  return out;
}

/**
 * The text of a constant: A_Const (string, number, boolean, bit string), a bare String / Integer /
 * Float / Boolean value node (DefElem arguments), or a TypeCast of a constant (`'x'::regclass`).
 * `null` for SQL NULL; `undefined` when the node is not a constant.
 */
export function constText(n: Node | undefined): string | null | undefined {
  if (!n) return undefined;
  const c = n.A_Const;
  if (c) {
    if (c.isnull) return null;
    if (c.sval) return c.sval.sval ?? '';
    if (c.ival) return String(c.ival.ival ?? 0);
    if (c.fval) return String(c.fval.fval ?? '0');
    if (c.boolval) return c.boolval.boolval ? 'true' : 'false';
    if (c.bsval) return String(c.bsval.bsval ?? '');
    return undefined;
  }
  if (n.TypeCast) return constText(n.TypeCast.arg);
  if (n.String) return n.String.sval ?? '';
  if (n.Integer) return String(n.Integer.ival ?? 0);
  if (n.Float) return String(n.Float.fval ?? '0');
  if (n.Boolean) return n.Boolean.boolval ? 'true' : 'false';
  return undefined;
}

/** A DefElem boolean option: absent argument means true (`EXPLAIN (ANALYZE)`). */
export function defBool(arg: Node | undefined): boolean {
  if (arg === undefined) return true;
  const t = constText(arg);
  if (t === undefined || t === null) return true;
  const v = t.toLowerCase();
  return !(v === 'false' || v === 'off' || v === '0' || v === 'no');
}

/** `OBJECT_MATVIEW` → 'materialized view' and so on: the object type as a policy names it. */
export function objectTypeName(objtype: string | undefined): string {
  if (!objtype) return 'object';
  const special = OBJECT_NAMES[objtype];
  if (special) return special;
  return objtype.replace(/^OBJECT_/, '').toLowerCase().replace(/_/g, ' ');
}

const OBJECT_NAMES: Record<string, string> = {
  OBJECT_MATVIEW: 'materialized view',
  OBJECT_FDW: 'foreign data wrapper',
  OBJECT_FOREIGN_SERVER: 'server',
  OBJECT_TSCONFIGURATION: 'text search configuration',
  OBJECT_TSDICTIONARY: 'text search dictionary',
  OBJECT_TSPARSER: 'text search parser',
  OBJECT_TSTEMPLATE: 'text search template',
  OBJECT_OPCLASS: 'operator class',
  OBJECT_OPFAMILY: 'operator family',
  OBJECT_AMOP: 'operator of access method',
  OBJECT_AMPROC: 'function of access method',
  OBJECT_ACCESS_METHOD: 'access method',
  OBJECT_EVENT_TRIGGER: 'event trigger',
  OBJECT_TABCONSTRAINT: 'constraint',
  OBJECT_DOMCONSTRAINT: 'constraint',
  OBJECT_USER_MAPPING: 'user mapping',
  OBJECT_DEFACL: 'default privileges',
  OBJECT_LARGEOBJECT: 'large object',
  OBJECT_STATISTIC_EXT: 'statistics',
  OBJECT_PUBLICATION_NAMESPACE: 'publication',
  OBJECT_PUBLICATION_REL: 'publication',
  OBJECT_PARAMETER_ACL: 'parameter',
};
