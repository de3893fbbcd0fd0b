/**
 * Loading a catalog snapshot from the upstream's system catalogs. Four queries, each returning
 * JSON documents (five with the fingerprint that lets a reload keep the built-in objects it read
 * before). Where the connection can (`queryAll`), they are sent together in one read-only
 * repeatable-read transaction: one round trip, and one snapshot of the catalog for all of them.
 */
import { buildPlanted } from './planted.ts';
import type { CatalogCast, CatalogFunction, CatalogOperator, CatalogRelation, CatalogSnapshot, CodeOrigin, RelationKind, TypeSet } from './types.ts';

type Rows = (string | null)[][];

/** The little of a SQL connection the loader needs (simple Query, text results). */
export interface CatalogQueryable {
  query(text: string): Promise<Rows>;
  /**
   * Several statements in one simple Query: the rows of each result that has a row description,
   * in order. Optional: without it the queries run one at a time, each in a snapshot of its own.
   */
  queryAll?(text: string): Promise<Rows[]>;
}

/**
 * The statements each connection has prepared (see `prepareOnce`), and connections on which a
 * prepared statement went missing (a pooler between the gateway and the server, which may run
 * each statement on another server connection): those run the text every time.
 */
const preparedOn = new WeakMap<CatalogQueryable, Set<string> | 'off'>();

const sqlstateOf = (err: unknown): unknown => (err as { sqlstate?: unknown }).sqlstate;

/**
 * Prepare one of the catalog queries on this connection unless it already was, under a name of
 * its own. They take no parameters, so the server keeps one generic plan; planning the code query
 * alone took longer than running it, at every reload after DDL. False when this connection runs
 * the texts instead.
 */
async function prepareOnce(db: CatalogQueryable, name: string, text: string): Promise<boolean> {
  let names = preparedOn.get(db);
  if (names === 'off') return false;
  if (!names) preparedOn.set(db, (names = new Set()));
  const statement = `pgwarden_catalog_${name}`;
  if (!names.has(statement)) {
    try {
      await db.query(`prepare ${statement} as ${text}`);
    } catch (err) {
      // Prepared on this connection through another handle (42P05): the text is the same.
      if (sqlstateOf(err) !== '42P05') throw err;
    }
    names.add(statement);
  }
  return true;
}

/** Run one of the catalog queries (prepared on first use, then `EXECUTE`d). */
async function run(db: CatalogQueryable, name: string, text: string): Promise<Rows> {
  if (!(await prepareOnce(db, name, text))) return db.query(text);
  try {
    return await db.query(`execute pgwarden_catalog_${name}`);
  } catch (err) {
    if (sqlstateOf(err) !== '26000') throw err;
    preparedOn.set(db, 'off');
    return db.query(text);
  }
}

/**
 * Run catalog queries, given as [name, text]: with `queryAll`, in one round trip and one
 * read-only repeatable-read transaction, so that every query sees the catalog as of one moment
 * (DDL that commits meanwhile is in all of them or in none); otherwise one at a time.
 */
async function runAll(db: CatalogQueryable, queries: [string, string][]): Promise<Rows[]> {
  const sequentially = async () => {
    const out: Rows[] = [];
    for (const [name, text] of queries) out.push(await run(db, name, text));
    return out;
  };
  if (!db.queryAll) return sequentially();
  for (const [name, text] of queries) if (!(await prepareOnce(db, name, text))) return sequentially();
  const executes = queries.map(([name]) => `execute pgwarden_catalog_${name}`);
  let results: Rows[];
  try {
    results = await db.queryAll(`begin isolation level repeatable read, read only; ${executes.join('; ')}; commit`);
  } catch (err) {
    // An error inside the block leaves it aborted: end it before anything else runs here.
    await db.query('rollback').catch(() => {});
    if (sqlstateOf(err) !== '26000') throw err;
    preparedOn.set(db, 'off');
    return sequentially();
  }
  if (results.length !== queries.length) throw new Error(`the catalog queries returned ${results.length} results for ${queries.length} queries`);
  return results;
}

const RELKIND: Record<string, RelationKind> = {
  r: 'table',
  p: 'partitioned_table',
  v: 'view',
  m: 'materialized_view',
  f: 'foreign_table',
  S: 'sequence',
  c: 'composite_type',
};

export const RELATIONS_SQL = `
select coalesce(json_agg(json_build_array(c.oid, n.nspname, c.relname, c.relkind, c.relhasrules, cols.list, deps.list, inh.list, uniq.list, fks.list,
  case when c.oid >= 16384 and c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end)), '[]')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join lateral (
  select json_agg(json_build_array(a.attname, a.attnum, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attnotnull) order by a.attnum) as list
  from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
) cols on true
left join lateral (
  select json_agg(distinct jsonb_build_array(rn.nspname, rc.relname)) as list
  from pg_rewrite r
  join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
  join pg_class rc on rc.oid = d.refobjid and rc.oid <> c.oid
  join pg_namespace rn on rn.oid = rc.relnamespace
  where r.ev_class = c.oid and c.relkind in ('v', 'm')
) deps on true
left join lateral (
  select json_agg(i.inhparent order by i.inhseqno) as list from pg_inherits i where i.inhrelid = c.oid
) inh on true
left join (
  select k.indrelid, json_agg(k.cols) as list from (
    select i.indrelid, (select json_agg(distinct x.attnum) from (
        select unnest(i.indkey::int2[])::int as attnum
        union all
        select d.refobjsubid from pg_depend d
         where (i.indexprs is not null or i.indpred is not null)
           and d.classid = 'pg_class'::regclass and d.objid = i.indexrelid and d.refclassid = 'pg_class'::regclass and d.refobjid = i.indrelid
      ) x where x.attnum > 0) as cols
    from pg_index i where i.indisunique or i.indisexclusion
  ) k where k.cols is not null group by k.indrelid
) uniq on uniq.indrelid = c.oid and c.relkind in ('r', 'p', 'm')
left join (
  select f.conrelid, json_agg(json_build_array(f.conkey, f.confrelid, f.confkey)) as list from pg_constraint f where f.contype = 'f' group by f.conrelid
) fks on fks.conrelid = c.oid and c.relkind in ('r', 'p')
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c') and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp_%'`;

/** A function's origin: made by initdb, a member of an extension, or created since (user code). */
const ORIGIN_SQL = (oid: string) => `case when ${oid} < 16384 then 'b'
  when exists (select 1 from pg_depend e where e.classid = 'pg_proc'::regclass and e.objid = ${oid} and e.deptype = 'e') then 'e' else 'u' end`;

export const FUNCTIONS_SQL = `
select coalesce(json_agg(json_build_array(p.oid, n.nspname, p.proname, p.prokind, p.provolatile, p.prosecdef, l.lanname, p.proargtypes::oid[],
  ${ORIGIN_SQL('p.oid')}, p.pronargdefaults, p.provariadic <> 0,
  case when p.oid >= 16384 and l.lanname in ('plpgsql', 'sql', 'internal') and p.prosrc <> '' then p.prosrc end)), '[]')
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang`;

/**
 * What initdb made (oid below 16384, FirstNormalObjectId) is the bulk of a catalog: some 600
 * relations and 3 000 functions. It changes only when a superuser alters a built-in object, which
 * updates its catalog rows and so their `xmin`. A load reads the built-in part again only when
 * this fingerprint of those rows changed (a count and two sums of `xmin` per catalog), and reads
 * the fingerprint only while the catalog's user can change a built-in object (see BuiltinCache);
 * the user part is read every time.
 */
export const BUILTIN_FINGERPRINT_SQL = `select concat_ws(' ', ${[
  ['pg_class', 'oid'],
  ['pg_attribute', 'attrelid'],
  ['pg_namespace', 'oid'],
  ['pg_type', 'oid'],
  ['pg_rewrite', 'ev_class'],
  ['pg_inherits', 'inhrelid'],
  ['pg_proc', 'oid'],
  ['pg_language', 'oid'],
]
  // Each xmin is converted once (the conversion through text is most of the cost).
  .map(([table, oid]) => `(select count(*) || ':' || coalesce(sum(x), 0) || ':' || coalesce(sum(hashint8(x)), 0) from (select xmin::text::bigint as x from ${table} where ${oid} < 16384) t)`)
  .join(', ')})`;

/**
 * Operators and casts whose function is user code, and the user functions attached to each
 * relation (run when it is read or written, without being named: triggers, rules and view
 * queries, column defaults, constraints, index expressions, row security policies). For a cast: the source and target types with
 * their domains and array types (a cast to T also runs for a domain over T and element-wise for
 * T[]), and the names of the target side's types (what `x::name` would write).
 *
 * A domain whose CHECK constraints or default call user code (`domain_code`) runs it whenever a
 * value becomes of that domain: it is listed as an explicit cast to itself (`domainCheck`), whose
 * target side is every type that holds the domain (`holds_domain`: domains over it, its array
 * type, composite types with a column of it, at any depth), and each relation with a column of
 * such a type has the code among its attached code.
 */
export const CODE_SQL = `
with recursive user_casts as (
  select c.oid, c.castsource, c.casttarget, c.castcontext, p.oid as fn, pn.nspname as fschema, p.proname as fname
  from pg_cast c join pg_proc p on p.oid = c.castfunc join pg_namespace pn on pn.oid = p.pronamespace
  where p.oid >= 16384 and ${ORIGIN_SQL('p.oid')} = 'u'
), related(cast_oid, type_oid, is_target) as (
  select oid, castsource, false from user_casts
  union select oid, casttarget, true from user_casts
  union select r.cast_oid, x.oid, r.is_target from related r join pg_type rt on rt.oid = r.type_oid
    cross join lateral (select t.oid from pg_type t where t.typbasetype = rt.oid union all select rt.typarray where rt.typarray <> 0) x
), domain_code(dom, fn, via) as (
  select co.contypid, coalesce(o.oprcode, d.refobjid), co.oid
  from pg_constraint co join pg_depend d on d.classid = 'pg_constraint'::regclass and d.objid = co.oid
  left join pg_operator o on d.refclassid = 'pg_operator'::regclass and o.oid = d.refobjid
  where co.contypid <> 0 and d.refobjid >= 16384 and d.refclassid in ('pg_proc'::regclass, 'pg_operator'::regclass)
  union
  select t.oid, coalesce(o.oprcode, d.refobjid), t.oid
  from pg_type t join pg_depend d on d.classid = 'pg_type'::regclass and d.objid = t.oid
  left join pg_operator o on d.refclassid = 'pg_operator'::regclass and o.oid = d.refobjid
  where t.typtype = 'd' and d.refobjid >= 16384 and d.refclassid in ('pg_proc'::regclass, 'pg_operator'::regclass)
), user_domain_code as (
  select dc.dom, dc.fn, dc.via, p.proname, pn.nspname from domain_code dc
  join pg_proc p on p.oid = dc.fn join pg_namespace pn on pn.oid = p.pronamespace
  where dc.fn >= 16384 and ${ORIGIN_SQL('dc.fn')} = 'u'
), holds_domain(typ, dom) as (
  select distinct dom, dom from user_domain_code
  union
  select x.oid, h.dom from holds_domain h cross join lateral (
    select t.oid from pg_type t where t.typbasetype = h.typ
    union all select t.typarray from pg_type t where t.oid = h.typ and t.typarray <> 0
    union all select c.reltype from pg_attribute a join pg_class c on c.oid = a.attrelid
      where a.atttypid = h.typ and a.attnum > 0 and not a.attisdropped and c.reltype <> 0
  ) x
)
select
  (select coalesce(json_agg(json_build_array(o.oid, n.nspname, o.oprname, o.oprleft, o.oprright, p.oid, pn.nspname, p.proname)), '[]')
   from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
   join pg_proc p on p.oid = o.oprcode join pg_namespace pn on pn.oid = p.pronamespace
   where p.oid >= 16384 and ${ORIGIN_SQL('p.oid')} = 'u')::text,
  (select coalesce(json_agg(c), '[]') from (
     select json_build_array(u.oid, u.castsource, u.casttarget, u.castcontext, u.fn, u.fschema, u.fname,
       (select json_agg(distinct jsonb_build_array(r.is_target, r.type_oid, tn.nspname, t.typname)) from related r join pg_type t on t.oid = r.type_oid
          join pg_namespace tn on tn.oid = t.typnamespace where r.cast_oid = u.oid)) as c
     from user_casts u
     union all
     select json_build_array(dc.via, dc.dom, dc.dom, 'e', dc.fn, dc.nspname, dc.proname,
       (select json_agg(distinct jsonb_build_array(true, h.typ, tn.nspname, t.typname)) from holds_domain h join pg_type t on t.oid = h.typ
          join pg_namespace tn on tn.oid = t.typnamespace where h.dom = dc.dom), true)
     from user_domain_code dc
   ) casts)::text,
  (select coalesce(json_agg(json_build_array(rel, fns)), '[]') from (
     select rel, json_agg(distinct fn) as fns from (
       select t.tgrelid as rel, t.tgfoid as fn from pg_trigger t where not t.tgisinternal and t.tgfoid >= 16384
       union all
       select coalesce(rw.ev_class, ad.adrelid, co.conrelid, po.polrelid, ix.indrelid), coalesce(o.oprcode, d.refobjid)
       from pg_depend d
       left join pg_operator o on d.refclassid = 'pg_operator'::regclass and o.oid = d.refobjid
       left join pg_rewrite rw on d.classid = 'pg_rewrite'::regclass and rw.oid = d.objid
       left join pg_attrdef ad on d.classid = 'pg_attrdef'::regclass and ad.oid = d.objid
       left join pg_constraint co on d.classid = 'pg_constraint'::regclass and co.oid = d.objid
       left join pg_policy po on d.classid = 'pg_policy'::regclass and po.oid = d.objid
       left join pg_index ix on d.classid = 'pg_class'::regclass and ix.indexrelid = d.objid
       where d.refobjid >= 16384 and d.refclassid in ('pg_proc'::regclass, 'pg_operator'::regclass)
       union all
       select a.attrelid, dc.fn from pg_attribute a join holds_domain h on h.typ = a.atttypid join user_domain_code dc on dc.dom = h.dom
       where a.attnum > 0 and not a.attisdropped
     ) x where rel is not null and rel <> 0 and fn >= 16384 group by rel
   ) y)::text`;

/**
 * The session's user, schemas and search_path, every schema, and whether the user may change a
 * built-in object: a superuser, or a member of the role that owns them (initdb's superuser, OID
 * 10). No other role can alter, replace, rename or drop what initdb made.
 */
export const SESSION_SQL = `
select current_user, to_json(current_schemas(false))::text, current_setting('search_path'),
  (select coalesce(json_agg(nspname), '[]') from pg_namespace where nspname not like 'pg_toast%' and nspname not like 'pg_temp_%')::text,
  pg_has_role(current_user, 10::oid, 'MEMBER')`;

type RelationRow = [
  number,
  string,
  string,
  string,
  boolean,
  [string, number, number, string, boolean?][] | null,
  [string, string][] | null,
  number[] | null,
  number[][] | null,
  [number[], number, number[]][] | null,
  string | null,
];
type FunctionRow = [number, string, string, string, string, boolean, string, number[] | null, 'b' | 'e' | 'u', number, boolean, string | null];
type OperatorRow = [number, string, string, number, number, number, string, string];
type CastRow = [number, number, number, string, number, string, string, [boolean, number, string, string][] | null, boolean?];

const ORIGIN: Record<string, CodeOrigin> = { b: 'builtin', e: 'extension', u: 'user' };

export async function loadCatalog(db: CatalogQueryable, version: number, builtins?: BuiltinCache): Promise<CatalogSnapshot> {
  return snapshotFrom(await loadCatalogContents(db, builtins), version);
}

/** The built-in part of the last load, kept between loads of one upstream (see BUILTIN_FINGERPRINT_SQL). */
export interface BuiltinCache {
  part?: { fingerprint: string; relations: CatalogRelation[]; functions: CatalogFunction[] };
  /**
   * Whether the last load's user could change a built-in object (SESSION_SQL). When it could
   * not, the next load keeps the cached part without reading the fingerprint: only a superuser
   * can change it then, directly on the database, as any change made there is seen by the
   * timer's full reload. The load still checks the user again, and reads the fingerprint at once
   * if the user has become able to.
   */
  userMayAlterBuiltins?: boolean;
}

/**
 * What a snapshot is made of, as plain data (no indexes): what `pgwarden catalog dump` writes, and
 * what `snapshotFrom` indexes, so a snapshot read from a file is built exactly as a loaded one.
 */
export interface CatalogContents {
  relations: CatalogRelation[];
  functions: CatalogFunction[];
  /** Operators and casts whose function is user code. */
  operators: CatalogOperator[];
  casts: CatalogCast[];
  /** Relation OID → OIDs of the user functions attached to it (see CODE_SQL). */
  attachedCode?: [number, number[]][];
  schemas: string[];
  currentUser: string;
  defaultSearchPath: string[];
  searchPathSetting?: string;
}

/** Index loaded or stored contents into a snapshot (the planted-code index included). */
export function snapshotFrom(c: CatalogContents, version: number): CatalogSnapshot {
  const relations = new Map<string, CatalogRelation>();
  const relationsByOid = new Map<number, CatalogRelation>();
  for (const r of c.relations) {
    relations.set(`${r.schema}.${r.name}`, r);
    relationsByOid.set(r.oid, r);
  }
  const functions = new Map<string, CatalogFunction[]>();
  for (const f of c.functions) {
    const key = `${f.schema}.${f.name}`;
    const list = functions.get(key) ?? [];
    list.push(f);
    functions.set(key, list);
  }
  return {
    version,
    relations,
    relationsByOid,
    schemas: new Set(c.schemas),
    functions,
    planted: buildPlanted(functions, c.operators, c.casts),
    currentUser: c.currentUser,
    defaultSearchPath: c.defaultSearchPath,
    attachedCode: new Map(c.attachedCode ?? []),
    ...(c.searchPathSetting !== undefined && { searchPathSetting: c.searchPathSetting }),
    loadedAt: Date.now(),
  };
}

/**
 * The four queries, read into contents. With `builtins`, the built-in objects come from the cache
 * when their fingerprint is unchanged, and the queries read only objects made since initdb.
 */
export async function loadCatalogContents(db: CatalogQueryable, builtins?: BuiltinCache): Promise<CatalogContents> {
  const fingerprintQuery: [string, string][] = builtins ? [['fingerprint', BUILTIN_FINGERPRINT_SQL]] : [];
  const userOnly: [string, string][] = [
    ['user_relations', `${RELATIONS_SQL} and c.oid >= 16384`],
    ['user_functions', `${FUNCTIONS_SQL} where p.oid >= 16384`],
  ];
  const everything: [string, string][] = [
    ['relations', RELATIONS_SQL],
    ['functions', FUNCTIONS_SQL],
  ];
  const rest: [string, string][] = [
    ['session', SESSION_SQL],
    ['code', CODE_SQL],
  ];
  // With a cached built-in part, the user part is read together with the fingerprint that says
  // whether the cache still holds (not even that when no one but a superuser working directly on
  // the database can change it); when it does not hold, everything is read again.
  let fingerprinted = builtins !== undefined && !(builtins.part && builtins.userMayAlterBuiltins === false);
  let results = await runAll(db, [...(fingerprinted ? fingerprintQuery : []), ...(builtins?.part ? userOnly : everything), ...rest]);
  const mayAlter = () => results[results.length - 2][0]?.[4] !== 'f';
  let fingerprint = fingerprinted ? (results[0][0]?.[0] ?? undefined) : builtins?.part?.fingerprint;
  let cached = builtins?.part !== undefined && builtins.part.fingerprint === fingerprint ? builtins.part : undefined;
  if (builtins?.part && (!cached || (!fingerprinted && mayAlter()))) {
    // The cache is stale, or the user has become able to change it since the last load.
    fingerprinted = true;
    results = await runAll(db, [...fingerprintQuery, ...everything, ...rest]);
    fingerprint = results[0][0]?.[0] ?? undefined;
    cached = undefined;
  }
  if (builtins) builtins.userMayAlterBuiltins = mayAlter();
  const at = fingerprinted ? fingerprintQuery.length : 0;
  const [[rel], [fn], [user, path, setting, schemas], [ops, casts, attached]] = results.slice(at).map((rows) => rows[0] ?? []);
  const relations: CatalogRelation[] = cached ? [...cached.relations] : [];
  for (const [oid, schema, name, kind, hasRules, cols, deps, parents, unique, fks, viewDef] of JSON.parse(rel ?? '[]') as RelationRow[]) {
    const r: CatalogRelation = {
      oid: Number(oid),
      schema,
      name,
      kind: RELKIND[kind] ?? 'other',
      columns: (cols ?? []).map(([colName, attnum, typeOid, typeName, notNull]) => ({ name: colName, attnum, typeOid: Number(typeOid), typeName, ...(notNull ? { notNull: true } : {}) })),
      hasRules: hasRules && kind !== 'v' && kind !== 'm' ? true : undefined,
    };
    if (deps?.length) r.viewDependencies = deps.map(([s, n]) => ({ schema: s, name: n }));
    if (typeof viewDef === 'string') r.viewDefinition = viewDef;
    if (parents?.length) r.parents = parents.map(Number);
    if (unique?.length) r.uniqueKeys = unique.map((k) => k.map(Number));
    if (fks?.length) r.foreignKeys = fks.map(([columns, references, refColumns]) => ({ columns: columns.map(Number), references: Number(references), refColumns: refColumns.map(Number) }));
    relations.push(r);
  }
  const functions: CatalogFunction[] = cached ? [...cached.functions] : [];
  for (const [oid, schema, name, kind, volatility, secdef, language, args, origin, defaults, variadic, source] of JSON.parse(fn ?? '[]') as FunctionRow[]) {
    const f: CatalogFunction = {
      oid: Number(oid),
      schema,
      name,
      kind: kind as CatalogFunction['kind'],
      volatility: volatility as CatalogFunction['volatility'],
      securityDefiner: secdef,
      language,
      argTypes: (args ?? []).map(Number),
      origin: ORIGIN[origin] ?? 'user',
      argDefaults: Number(defaults ?? 0),
      variadic: variadic === true,
    };
    if (typeof source === 'string') f.source = source;
    functions.push(f);
  }
  if (builtins && fingerprint !== undefined && !cached) {
    builtins.part = { fingerprint, relations: relations.filter((r) => r.oid < 16384), functions: functions.filter((f) => f.oid < 16384) };
  }
  const operators: CatalogOperator[] = (JSON.parse(ops ?? '[]') as OperatorRow[]).map(([oid, schema, name, left, right, fnOid, fnSchema, fnName]) => ({
    oid: Number(oid),
    schema,
    name,
    left: Number(left),
    right: Number(right),
    fn: { oid: Number(fnOid), schema: fnSchema, name: fnName },
  }));
  const side = (rows: CastRow[7], target: boolean): TypeSet => {
    const set: TypeSet = { oids: [], names: [] };
    for (const [isTarget, oid, schema, name] of rows ?? []) {
      if (isTarget !== target) continue;
      set.oids.push(Number(oid));
      set.names.push({ schema, name });
    }
    return set;
  };
  const castList: CatalogCast[] = (JSON.parse(casts ?? '[]') as CastRow[]).map(([oid, source, target, context, fnOid, fnSchema, fnName, types, domainCheck]) => ({
    oid: Number(oid),
    source: Number(source),
    target: Number(target),
    context: context === 'i' || context === 'a' ? context : 'e',
    fn: { oid: Number(fnOid), schema: fnSchema, name: fnName },
    sourceTypes: side(types, false),
    targetTypes: side(types, true),
    betweenBuiltins: Number(source) < 16384 && Number(target) < 16384,
    ...(domainCheck === true && { domainCheck: true as const }),
  }));
  return {
    relations,
    functions,
    operators,
    casts: castList,
    attachedCode: (JSON.parse(attached ?? '[]') as [number, number[]][]).map(([rel, fns]) => [Number(rel), fns.map(Number)]),
    schemas: JSON.parse(schemas ?? '[]') as string[],
    currentUser: user ?? '',
    defaultSearchPath: JSON.parse(path ?? '[]') as string[],
    ...(setting !== null && setting !== undefined && { searchPathSetting: setting }),
  };
}
