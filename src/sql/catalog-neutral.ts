/**
 * DDL and DCL that change nothing the gateway's catalog snapshot holds, so no reload need follow
 * them (a reload costs every following statement a wait, and scripts run hundreds of these).
 *
 * The snapshot holds relations of the kinds a statement can read (not indexes) with their
 * columns, view dependencies and parents; functions; operators and casts of user code; the user
 * functions attached to each relation (triggers, rules, view queries, defaults, constraints,
 * index expressions and predicates, policies); schemas; the current user and the default
 * search_path (catalog/load.ts). None of these is changed by:
 * - `COMMENT ON` and `SECURITY LABEL`: descriptions and labels only;
 * - `GRANT` and `REVOKE`, of privileges or of role membership: access control, which the policy
 *   decides on its own and the snapshot does not hold;
 * - `CREATE INDEX`, not unique, whose keys and included columns are plain column names, with no
 *   expression, no operator class named and no predicate: the index is a relation of a kind the
 *   snapshot leaves out, and it runs no code but its built-in or default operator class's. (A
 *   unique index is a key the snapshot holds: writes of its columns compare with stored values.)
 * Anything else is not neutral. Pure.
 */
import { list, unwrap, type Node } from './ast.ts';

const NEUTRAL = new Set(['CommentStmt', 'SecLabelStmt', 'GrantStmt', 'GrantRoleStmt']);

/** Whether the top-level statement `type` with parse node `n` leaves the snapshot as it is. */
export function leavesCatalogAsIs(type: string, n: Node): boolean {
  if (NEUTRAL.has(type)) return true;
  if (type !== 'IndexStmt') return false;
  if (n.unique === true || n.whereClause !== undefined) return false;
  const elems = [...list(n.indexParams), ...list(n.indexIncludingParams)];
  return elems.length > 0 && elems.every((e) => plainColumn(unwrap(e, 'IndexElem') as Node | undefined));
}

function plainColumn(e: Node | undefined): boolean {
  return e !== undefined && typeof e.name === 'string' && e.expr === undefined && list(e.opclass).length === 0 && list(e.opclassopts).length === 0;
}
