/**
 * A hand-built catalog snapshot for the analyser's tests: schemas public, sales and app with
 * tables that shadow each other across the search path, a quoted mixed-case table, a view, a
 * sequence, and functions including SECURITY DEFINER ones.
 */
import type { CatalogFunction, CatalogRelation, CatalogSnapshot, RelationKind } from '../catalog/types.ts';

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
  return { oid: nextOid++, schema, name, kind: 'f', volatility: 'v', securityDefiner: false, language: 'internal', argTypes: [], ...opts };
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
  ];
  const functions = [
    ...['lower', 'upper', 'length', 'now', 'coalesce_text', 'row_to_json', 'to_json', 'json_agg', 'string_agg', 'generate_series', 'pg_sleep', 'current_setting', 'concat', 'substr'].map((n) => fn('pg_catalog', n, { volatility: 's' })),
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
    fn('app', 'lower', { language: 'sql' }),
  ];
  const fmap = new Map<string, CatalogFunction[]>();
  for (const f of functions) {
    const k = `${f.schema}.${f.name}`;
    fmap.set(k, [...(fmap.get(k) ?? []), f]);
  }
  return {
    version,
    relations: new Map(relations.map((r) => [`${r.schema}.${r.name}`, r])),
    relationsByOid: new Map(relations.map((r) => [r.oid, r])),
    schemas: new Set(['pg_catalog', 'public', 'sales', 'app']),
    functions: fmap,
    currentUser: 'app',
    defaultSearchPath: ['"$user"', 'public'],
    loadedAt: 0,
  };
}
