/**
 * User code a session created that the catalog snapshot cannot have yet.
 *
 * The catalog is read on a connection of its own: a function, procedure, aggregate or operator
 * created (or renamed, or moved to another schema) earlier in the same query string, in a
 * pipeline not yet synced, or in a transaction block still open is not in it. Calls could still
 * resolve to it: `lower(x)` runs `tenant.lower(unknown)` once someone created it on a path that
 * names pg_catalog after `tenant`, and an operator created in a schema on the path can be picked
 * over a built-in one. Decided on the snapshot alone, such a call would be taken for the
 * built-in.
 *
 * So the gate keeps what the session's allowed statements create (`createdCodeOf`) until the
 * session is idle again with nothing in flight (the catalog reload that follows DDL then sees
 * it, or it was rolled back), and analyses statements on the snapshot with that code added
 * (`withCreatedCode`): a function as a user overload that accepts any arguments (so every call
 * of its name on the path counts as a possible call of it, needing a grant like any user
 * function), whose source is the CREATE statement when it is SQL or PL/pgSQL (what it may do to
 * search_path is read there; otherwise it is taken as code that may change it); an operator as
 * user operators of its name, binary and prefix, that call its function (unless that function is
 * built in).
 *
 * The same holds for relations the session dropped, renamed or moved, or whose schema it dropped
 * or renamed: until the catalog is read again they are still in it, and an unqualified name would
 * be taken for them while the server, no longer finding them, reads the relation of that name in
 * a schema later on the path. They are left out of the snapshot, so the name is resolved as the
 * server resolves it (relations by OID stay, for RowDescriptions).
 *
 * Code attached to a relation (a trigger, rule, policy, default, constraint or index whose
 * statement names a user function) may change search_path whenever the relation is used: the
 * relation is given a stand-in function without a readable body in `attachedCode`, or, when the
 * catalog does not have the relation either, its name goes in `pendingAttached`.
 *
 * A view made or replaced is decided on its query only once the catalog has that query
 * (engine/view-reads.ts): until then the gate refuses identities with masking rules any read of
 * a view made since initdb. Pure.
 */
import type { CatalogFunction, CatalogOperator, CatalogSnapshot } from '../catalog/types.ts';
import type { StatementAnalysis } from '../sql/index.ts';

export interface CreatedCode {
  /**
   * User code made, or `gone`: a relation dropped, renamed or moved to another schema (its name
   * then finds what comes after it on the path, on the server), or a whole schema dropped or
   * renamed (`name` empty).
   */
  kind: 'function' | 'procedure' | 'aggregate' | 'operator' | 'gone' | 'view' | 'attached' | 'domain';
  /** The schema it is in; undefined when the statement did not say and the catalog could not tell (any schema). */
  schema: string | undefined;
  name: string;
  /** The CREATE statement, for a function or procedure in SQL or PL/pgSQL. */
  source?: string;
  /**
   * An operator's function (its schema empty when the catalog does not have it); a domain's:
   * a function its CHECK or default calls (absent: one the statement named but nothing resolved).
   */
  fn?: { schema: string; name: string };
}

const FUNCTION_KINDS: Record<string, CreatedCode['kind']> = { function: 'function', procedure: 'procedure', routine: 'function', aggregate: 'aggregate' };
/** Objects a FROM clause can name. */
const RELATION_TYPES = new Set(['table', 'view', 'materialized view', 'sequence', 'foreign table']);

/** The user code a statement creates, renames or moves (empty for almost every statement). */
export function createdCodeOf(a: StatementAnalysis): CreatedCode[] {
  if (a.class !== 'ddl' || a.ddl.length === 0) return [];
  const out: CreatedCode[] = [];
  // A trigger, rule, policy, default, constraint or index that attaches user code to a relation
  // (the statement names it): using the relation may run that code now.
  if (a.functions.some((f) => f.userCode || (!f.resolved && f.computedTarget === undefined))) {
    for (const d of a.ddl) {
      const on = d.on ?? (RELATION_TYPES.has(d.objectType) && d.name ? { schema: d.schema ?? '', name: d.name } : undefined);
      if (on && (d.action === 'create' || d.action === 'alter')) out.push({ kind: 'attached', schema: on.schema, name: on.name });
      // A domain whose CHECK or default calls user code runs it whenever a value becomes of it.
      if (d.objectType === 'domain' && d.name && (d.action === 'create' || d.action === 'alter')) {
        for (const f of a.functions) {
          if (f.resolved && !f.userCode) continue;
          out.push(f.resolved || f.schema !== '' ? { kind: 'domain', schema: d.schema, name: d.name, fn: { schema: f.schema, name: f.name } } : { kind: 'domain', schema: d.schema, name: d.name });
        }
      }
    }
  }
  for (const d of a.ddl) {
    const away = d.action === 'drop' || d.action === 'rename' || (d.action === 'alter' && d.newSchema !== undefined);
    if (away && d.objectType === 'schema' && d.name) {
      out.push({ kind: 'gone', schema: d.name, name: '' });
      continue;
    }
    if (away && RELATION_TYPES.has(d.objectType) && d.name) {
      out.push({ kind: 'gone', schema: d.schema, name: d.name });
      continue;
    }
    // A view made or replaced (or moved here): its query is not the catalog's to read yet.
    if (d.action === 'create' && (d.objectType === 'view' || d.objectType === 'materialized view') && d.name) {
      out.push({ kind: 'view', schema: d.schema, name: d.name });
      continue;
    }
    if (d.objectType === 'operator') {
      if (d.action !== 'create' || !d.name) continue;
      // CREATE OPERATOR names its function (the analysis records it as a call); one built in
      // runs nothing of a user's, as an operator of the catalog's over it would not.
      const f = a.node === 'DefineStmt' ? a.functions[0] : undefined;
      if (f && f.resolved && !f.userCode) continue;
      out.push(f ? { kind: 'operator', schema: d.schema, name: d.name, fn: { schema: f.schema, name: f.name } } : { kind: 'operator', schema: d.schema, name: d.name });
      continue;
    }
    const kind = FUNCTION_KINDS[d.objectType];
    if (!kind) continue;
    if (d.action === 'create' && d.name) {
      const readable = d.language === 'sql' || d.language === 'plpgsql';
      out.push(readable ? { kind, schema: d.schema, name: d.name, source: a.text } : { kind, schema: d.schema, name: d.name });
    } else if (d.action === 'rename' && d.newName) {
      out.push({ kind, schema: d.schema, name: d.newName });
    }
  }
  return out;
}

/** Any argument count, and argument types no other overload has (never hidden by one). */
const ANY_ARGUMENTS = { argTypes: [-1], argDefaults: 1, variadic: true };

/** `snapshot` with `code` added as user code (see the module comment). A new object: its own analysis cache entries. */
export function withCreatedCode(snapshot: CatalogSnapshot, code: readonly CreatedCode[]): CatalogSnapshot {
  const functions = new Map(snapshot.functions);
  const planted = { ...snapshot.planted, functions: new Map(snapshot.planted.functions), operators: new Map(snapshot.planted.operators) };
  let relations = snapshot.relations;
  let attachedCode = snapshot.attachedCode;
  const pending = new Set<string>();
  let domains = false;
  let oid = -1;
  // A user function without a readable body, standing for code the catalog cannot show yet: it
  // may change search_path (catalog/path-code.ts).
  const standIn = (schema: string, name: string): CatalogFunction => {
    const stand: CatalogFunction = { oid: oid--, schema, name, kind: 'f', volatility: 'v', securityDefiner: false, language: 'unknown', ...ANY_ARGUMENTS, origin: 'user' };
    functions.set(`${schema}.${name}`, [...(functions.get(`${schema}.${name}`) ?? []), stand]);
    return stand;
  };
  for (const c of code) {
    if (c.kind === 'domain') {
      // As a domain of the catalog's (catalog/load.ts, CODE_SQL): an explicit cast to itself that
      // calls the code, by the names `x::d` and `x::d[]` write. Which relations have columns of
      // it is not known: every relation used counts as running it (`pendingDomainCode`).
      domains = true;
      let fn = c.fn;
      if (!fn || !functions.has(`${fn.schema}.${fn.name}`)) fn = standIn(fn?.schema || (c.schema ?? ''), fn?.name ?? '(domain code made in this session)');
      const names = (c.schema !== undefined ? [c.schema] : [...snapshot.schemas]).flatMap((schema) => [{ schema, name: c.name }, { schema, name: `_${c.name}` }]);
      const cast = { oid: oid--, source: 0, target: 0, context: 'e' as const, fn: { oid: 0, schema: fn.schema, name: fn.name }, sourceTypes: { oids: [], names: [] }, targetTypes: { oids: [], names }, betweenBuiltins: false, domainCheck: true as const };
      if (planted.castsByTypeName === snapshot.planted.castsByTypeName) planted.castsByTypeName = new Map(planted.castsByTypeName);
      for (const n of [c.name, `_${c.name}`]) planted.castsByTypeName.set(n, [...(planted.castsByTypeName.get(n) ?? []), cast]);
      continue;
    }
    if (c.kind === 'attached') {
      // A stand-in for the code attached: a relation that has it may change search_path when used.
      const rel = c.schema !== undefined ? snapshot.relations.get(`${c.schema}.${c.name}`) : undefined;
      if (!rel) {
        // A relation the session made: known by name only.
        pending.add(`${c.schema ?? ''}.${c.name}`);
        continue;
      }
      const stand = standIn(rel.schema, '(code attached in this session)');
      attachedCode = new Map(attachedCode ?? []);
      attachedCode.set(rel.oid, [...(attachedCode.get(rel.oid) ?? []), stand.oid]);
      continue;
    }
    // The gate refuses reads of views while one is pending (see PolicyGate.freshViewRead).
    if (c.kind === 'view') continue;
    if (c.kind === 'gone') {
      if (relations === snapshot.relations) relations = new Map(relations);
      if (c.name !== '') {
        // Unqualified and unknown to the catalog: on any schema.
        for (const schema of c.schema !== undefined ? [c.schema] : [...snapshot.schemas]) relations.delete(`${schema}.${c.name}`);
      } else if (c.schema !== undefined) {
        for (const key of [...relations.keys()]) if (relations.get(key)!.schema === c.schema) relations.delete(key);
      }
      continue;
    }
    const schemas = c.schema !== undefined ? [c.schema] : [...snapshot.schemas];
    for (const schema of schemas) {
      if (c.kind === 'operator') {
        const fn = { oid: oid--, schema: c.fn?.schema || schema, name: c.fn?.name ?? c.name };
        const ops: CatalogOperator[] = [
          { oid: oid--, schema, name: c.name, left: -1, right: -1, fn },
          { oid: oid--, schema, name: c.name, left: 0, right: -1, fn },
        ];
        planted.operators.set(c.name, [...(planted.operators.get(c.name) ?? []), ...ops]);
        continue;
      }
      const f: CatalogFunction = {
        oid: oid--,
        schema,
        name: c.name,
        kind: c.kind === 'procedure' ? 'p' : c.kind === 'aggregate' ? 'a' : 'f',
        volatility: 'v',
        securityDefiner: false,
        language: c.source !== undefined ? 'plpgsql' : 'unknown',
        ...ANY_ARGUMENTS,
        origin: 'user',
      };
      if (c.source !== undefined) f.source = c.source;
      const key = `${schema}.${c.name}`;
      // CREATE OR REPLACE may have given an overload the catalog has another body: what those
      // overloads do is not known from their catalog source any more (a trigger's function is
      // found by its OID, which stays).
      const known = (functions.get(key) ?? []).map(({ source: _replaced, ...rest }): CatalogFunction => rest);
      functions.set(key, [...known, f]);
      planted.functions.set(c.name, [...(planted.functions.get(c.name) ?? []), f]);
    }
  }
  const out: CatalogSnapshot = { ...snapshot, relations, functions, planted };
  if (attachedCode !== snapshot.attachedCode) out.attachedCode = attachedCode;
  if (pending.size > 0) out.pendingAttached = pending;
  if (domains) out.pendingDomainCode = true;
  return out;
}
