/**
 * A hand-built catalog snapshot for the analyser's tests: schemas public, sales and app with
 * tables that shadow each other across the search path, a quoted mixed-case table, a view, a
 * sequence, and functions including SECURITY DEFINER ones. Planted user code: overloads of
 * built-in names (public.md5(integer), public.reverse(text, integer = 1), public.abs(VARIADIC
 * integer[]), sales.initcap(integer), pg_catalog.format_money(integer) created after initdb), an
 * operator public.# (integer, text), prefix public.## (text) and sales.= (integer, text), an explicit cast text →
 * public.secretive and an implicit cast text → public.mood, a column of type mood in
 * public.moods, and a second sequence public.atk_seq.
 */
import { buildPlanted } from '../catalog/planted.ts';
import type { CatalogCast, CatalogFunction, CatalogOperator, CatalogRelation, CatalogSnapshot, RelationKind, TypeSet } from '../catalog/types.ts';

let nextOid = 16384;

function rel(schema: string, name: string, kind: RelationKind, columns: string[]): CatalogRelation {
  return {
    oid: nextOid++,
    schema,
    name,
    kind,
    // `id` columns are NOT NULL (primary keys), as in the demo's schema.
    columns: columns.map((c, i) => ({ name: c, attnum: i + 1, typeOid: 25, typeName: 'text', ...(c === 'id' ? { notNull: true } : {}) })),
  };
}

function fn(schema: string, name: string, opts: Partial<CatalogFunction> = {}): CatalogFunction {
  return {
    oid: nextOid++,
    schema,
    name,
    kind: 'f',
    volatility: 'v',
    securityDefiner: false,
    language: 'internal',
    argTypes: [],
    origin: schema === 'pg_catalog' ? 'builtin' : 'user',
    argDefaults: 0,
    variadic: false,
    ...opts,
  };
}

const INT4 = 23;
const TEXT = 25;
const MOOD = 16501;
const SECRETIVE = 16502;

function types(...ts: [number, string, string][]): TypeSet {
  return { oids: ts.map((t) => t[0]), names: ts.map(([, schema, name]) => ({ schema, name })) };
}

export function testCatalog(version = 1): CatalogSnapshot {
  nextOid = 16384;
  const relations = [
    rel('public', 'customers', 'table', ['id', 'name', 'email', 'phone', 'ssn']),
    rel('public', 'orders', 'table', ['id', 'customer_id', 'status', 'total']),
    rel('public', 'Customers', 'table', ['id', 'secret']),
    rel('public', 'customer_emails', 'view', ['id', 'email']),
    rel('public', 'order_seq', 'sequence', ['last_value', 'log_cnt', 'is_called']),
    rel('public', 'audit', 'table', ['id', 'at', 'actor', 'detail']),
    rel('sales', 'orders', 'table', ['id', 'customer_id', 'amount', 'region']),
    rel('sales', 'targets', 'partitioned_table', ['region', 'goal']),
    rel('app', 'customers', 'table', ['id', 'name', 'api_key']),
    rel('app', 'settings', 'table', ['key', 'value']),
    rel('pg_catalog', 'pg_class', 'table', ['oid', 'relname', 'relnamespace', 'relkind']),
    rel('pg_catalog', 'pg_authid', 'table', ['oid', 'rolname', 'rolpassword']),
    rel('public', 'atk_seq', 'sequence', ['last_value', 'log_cnt', 'is_called']),
    rel('public', 'moods', 'table', ['id', 'feeling']),
    rel('pg_catalog', 'pg_subscription', 'table', ['oid', 'subdbid', 'subname', 'subowner', 'subenabled', 'subconninfo', 'subslotname', 'subsynccommit', 'subpublications']),
    rel('pg_catalog', 'pg_largeobject_metadata', 'table', ['oid', 'lomowner', 'lomacl']),
    ...['pg_namespace', 'pg_attribute', 'pg_type', 'pg_proc', 'pg_settings', 'pg_statistic', 'pg_statistic_ext_data', 'pg_shadow', 'pg_largeobject', 'pg_hba_file_rules', 'pg_file_settings', 'pg_user_mapping', 'pg_locks', 'pg_roles']
      .map((n) => rel('pg_catalog', n, 'table', ['oid', 'name', 'value'])),
    ...['pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_user_mappings', 'pg_stat_activity'].map((n) => rel('pg_catalog', n, 'view', ['tablename', 'attname', 'histogram_bounds', 'query'])),
    ...['tables', 'columns', 'user_mapping_options'].map((n) => rel('information_schema', n, 'view', ['table_schema', 'table_name', 'column_name', 'option_value'])),
  ];
  // pg_settings with its real columns (sourceline is an integer, pending_restart a boolean).
  const settings = relations.find((r) => r.schema === 'pg_catalog' && r.name === 'pg_settings');
  if (settings) {
    settings.kind = 'view';
    settings.columns = ['name', 'setting', 'unit', 'category', 'short_desc', 'extra_desc', 'context', 'vartype', 'source', 'min_val', 'max_val', 'enumvals', 'boot_val', 'reset_val', 'sourcefile', 'sourceline', 'pending_restart']
      .map((c, i) => ({ name: c, attnum: i + 1, typeOid: c === 'sourceline' ? INT4 : c === 'pending_restart' ? 16 : TEXT, typeName: c === 'sourceline' ? 'integer' : c === 'pending_restart' ? 'boolean' : 'text' }));
  }
  const roles = relations.find((r) => r.schema === 'pg_catalog' && r.name === 'pg_roles');
  if (roles) roles.columns = ['oid', 'rolname', 'rolconfig'].map((c, i) => ({ name: c, attnum: i + 1, typeOid: 25, typeName: 'text' }));
  const moods = relations.find((r) => r.name === 'moods');
  if (moods) moods.columns[1] = { name: 'feeling', attnum: 2, typeOid: MOOD, typeName: 'public.mood' };
  const functions = [
    fn('pg_catalog', 'lower', { volatility: 'i', argTypes: [TEXT] }),
    ...['upper', 'length', 'now', 'coalesce_text', 'row_to_json', 'to_json', 'json_agg', 'string_agg', 'generate_series', 'pg_sleep', 'current_setting', 'concat', 'substr'].map((n) => fn('pg_catalog', n, { volatility: 's' })),
    fn('pg_catalog', 'count', { kind: 'a' }),
    fn('pg_catalog', 'sum', { kind: 'a' }),
    fn('pg_catalog', 'max', { kind: 'a' }),
    fn('pg_catalog', 'row_number', { kind: 'w' }),
    fn('pg_catalog', 'rank', { kind: 'w' }),
    fn('pg_catalog', 'set_config'),
    fn('pg_catalog', 'nextval'),
    fn('pg_catalog', 'setval'),
    fn('pg_catalog', 'pg_read_file'),
    fn('pg_catalog', 'pg_terminate_backend'),
    fn('pg_catalog', 'lo_export'),
    fn('public', 'audit_log', { language: 'plpgsql' }),
    fn('public', 'elevate', { securityDefiner: true, language: 'plpgsql' }),
    fn('public', 'refresh_stats', { kind: 'p', language: 'plpgsql' }),
    fn('public', 'mask_ssn', { volatility: 'i', language: 'sql' }),
    fn('public', 'customer_tier', { volatility: 's', language: 'sql' }),
    fn('app', 'get_secret', { securityDefiner: true, language: 'sql' }),
    fn('app', 'lower', { language: 'sql', argTypes: [TEXT] }),
    ...['md5', 'reverse', 'abs', 'initcap', 'format_money', 'currval', 'lastval', 'pg_sequence_last_value'].map((n) => fn('pg_catalog', n, { volatility: 'i' })),
    fn('public', 'md5', { language: 'sql', argTypes: [INT4] }),
    fn('public', 'reverse', { language: 'sql', argTypes: [TEXT, INT4], argDefaults: 1 }),
    fn('public', 'abs', { language: 'plpgsql', argTypes: [1007], variadic: true }),
    fn('sales', 'initcap', { language: 'sql', argTypes: [INT4] }),
    fn('pg_catalog', 'format_money', { language: 'sql', argTypes: [INT4], origin: 'user' }),
    fn('public', 'hstore_like', { language: 'c', argTypes: [TEXT], origin: 'extension' }),
    fn('public', 'leak_eq', { language: 'sql', argTypes: [INT4, TEXT] }),
    fn('public', 'leak_prefix', { language: 'sql', argTypes: [TEXT] }),
    fn('public', 'to_secretive', { language: 'sql', argTypes: [TEXT] }),
    fn('public', 'text_mood', { language: 'plpgsql', argTypes: [TEXT] }),
  ];
  const fmap = new Map<string, CatalogFunction[]>();
  for (const f of functions) {
    const k = `${f.schema}.${f.name}`;
    fmap.set(k, [...(fmap.get(k) ?? []), f]);
  }
  const ref = (name: string) => {
    const f = functions.find((x) => x.schema === 'public' && x.name === name) as CatalogFunction;
    return { oid: f.oid, schema: f.schema, name: f.name };
  };
  const operators: CatalogOperator[] = [
    { oid: nextOid++, schema: 'public', name: '#', left: INT4, right: TEXT, fn: ref('leak_eq') },
    { oid: nextOid++, schema: 'public', name: '##', left: 0, right: TEXT, fn: ref('leak_prefix') },
    { oid: nextOid++, schema: 'sales', name: '=', left: INT4, right: TEXT, fn: ref('leak_eq') },
  ];
  const casts: CatalogCast[] = [
    {
      oid: nextOid++, source: TEXT, target: SECRETIVE, context: 'e', fn: ref('to_secretive'), betweenBuiltins: false,
      sourceTypes: types([TEXT, 'pg_catalog', 'text'], [1009, 'pg_catalog', '_text']),
      targetTypes: types([SECRETIVE, 'public', 'secretive'], [SECRETIVE + 1000, 'public', '_secretive']),
    },
    {
      oid: nextOid++, source: TEXT, target: MOOD, context: 'i', fn: ref('text_mood'), betweenBuiltins: false,
      sourceTypes: types([TEXT, 'pg_catalog', 'text'], [1009, 'pg_catalog', '_text']),
      targetTypes: types([MOOD, 'public', 'mood'], [MOOD + 1000, 'public', '_mood']),
    },
  ];
  return {
    version,
    relations: new Map(relations.map((r) => [`${r.schema}.${r.name}`, r])),
    relationsByOid: new Map(relations.map((r) => [r.oid, r])),
    schemas: new Set(['pg_catalog', 'public', 'sales', 'app', 'information_schema']),
    functions: fmap,
    planted: buildPlanted(fmap, operators, casts),
    currentUser: 'app',
    defaultSearchPath: ['"$user"', 'public'],
    loadedAt: 0,
  };
}
