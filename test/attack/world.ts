/**
 * The world the attack corpus runs in: a real PostgreSQL that logs every statement it runs, a
 * `shop`-like database with personal data, and the gateway in front of it with three identities
 * (the demo's analyst, support-bot and migrator), masking rules and a review rule.
 *
 * The corpus judges attacks by their effect, never by an error text alone (STYLE.md rule 22):
 * - `dataSum()` and `schemaSum()` are checksums taken over a direct superuser connection before
 *   and after each case;
 * - `clearValues(identity)` are the values masked for that identity, searched for in every byte
 *   the client received (also hex-encoded and reversed);
 * - `serverLog()` is the part of the server's statement log written since the last call: what the
 *   server was actually asked to run.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

export type IdentityName = 'analyst' | 'support-bot' | 'migrator';

export const IDENTITIES: Record<IdentityName, { sub: string; groups: string[] }> = {
  analyst: { sub: 'analyst', groups: ['analysts'] },
  'support-bot': { sub: 'support-bot', groups: ['support'] },
  migrator: { sub: 'migrator', groups: ['migrators'] },
};

/** Which columns each identity gets masked (the masking rules below, as the identities see them). */
const MASKED: Record<IdentityName, string[]> = {
  analyst: ['email', 'phone', 'ssn'],
  'support-bot': ['phone', 'ssn'],
  migrator: ['email', 'phone', 'ssn'],
};

export const CUSTOMERS = 40;
export const ORDERS = 120;

const TABLES = `
create table customers (
  id integer primary key,
  name text not null,
  email text not null,
  phone text not null,
  ssn text not null
);
create table orders (
  id integer primary key,
  customer_id integer not null references customers (id),
  status text not null,
  total numeric(10, 2) not null
);
create sequence audit_seq;
alter table customers owner to gw_app;
alter table orders owner to gw_app;
alter sequence audit_seq owner to gw_app;
`;

const SEED = `
${TABLES}
insert into customers
select i, 'Customer ' || i,
       'person' || i || '.x' || (i * 7919 % 1000) || '@example.org',
       '+1-555-' || lpad(((i * 7919) % 10000)::text, 4, '0'),
       '9' || lpad((i % 100)::text, 2, '0') || '-' || lpad(((i * 37) % 100)::text, 2, '0') || '-' || lpad(((i * 104729) % 10000)::text, 4, '0')
  from generate_series(1, ${CUSTOMERS}) i;
insert into orders
select i, 1 + (i * 7) % ${CUSTOMERS}, (array['pending','paid','shipped'])[1 + i % 3], round(5 + ((i * 7907) % 5000) / 100.0, 2)
  from generate_series(1, ${ORDERS}) i;
grant create on schema public to gw_app;
create schema pristine;
create table pristine.customers as table customers;
create table pristine.orders as table orders;
-- The rows of relations named by OID, so a case that renames or moves a table is still summed.
create function pristine.data_sum(rels oid[]) returns text language plpgsql as $f$
declare r oid; part text; acc text := '';
begin
  foreach r in array rels loop
    if exists (select 1 from pg_class where oid = r and relkind = 'S') then
      execute format('select last_value::text || is_called::text from %s', r::regclass) into part;
      acc := acc || r || ':' || coalesce(part, '') || '|';
    elsif exists (select 1 from pg_class where oid = r) then
      execute format('select string_agg(t::text, %L order by t::text) from %s t', ';', r::regclass) into part;
      acc := acc || r || ':' || coalesce(part, '') || '|';
    else
      acc := acc || r || ':missing|';
    end if;
  end loop;
  return md5(acc);
end $f$;
analyze;
`;

/** Recreates the tables as seeded, when a case that got through changed them. */
const REBUILD = `
drop table if exists orders, customers cascade;
drop sequence if exists audit_seq cascade;
${TABLES}
`;

/** Puts the rows back as seeded (a case that got through must not hide the next case's effect). */
const RESTORE = `
truncate orders, customers;
insert into customers select * from pristine.customers;
insert into orders select * from pristine.orders;
select setval('audit_seq', 1, false);
`;

export interface Sums {
  data: string;
  schema: string;
}

export interface World {
  gw: TestGateway;
  token(identity: IdentityName): Promise<string>;
  /** Run SQL as the cluster's superuser in the app database (setup, cleanup, checks). */
  direct(sql: string): string;
  dataSum(): string;
  schemaSum(): string;
  /** Both sums from one query (one psql run instead of two). */
  sums(): Sums;
  clearValues(identity: IdentityName): string[];
  /** The server's statement log written since the previous call. */
  serverLog(): string;
  /** Put the seeded rows (and tables) back when they changed; `now` spares taking the sums again. */
  restore(now?: Sums): Promise<void>;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const gw = await startTestGateway({
    postgres: {
      conf: [
        'logging_collector = on',
        "log_directory = 'log'",
        "log_filename = 'server.log'",
        "log_statement = 'all'",
        "log_line_prefix = '%m [%p] '",
      ],
    },
    config: (raw) => {
      const issuers = raw.identity.issuers as { issuer: string; groups_claim?: string }[];
      issuers[0].groups_claim = 'groups';
      raw.policies = [
        {
          name: 'analysts',
          match: { groups: ['analysts'] },
          allow: [{ tables: ['public.orders', 'public.customers'], operations: ['select'] }],
          limits: { read_only: true, statement_timeout: '30s' },
        },
        {
          name: 'support',
          match: { groups: ['support'] },
          allow: [
            { tables: ['public.customers', 'public.orders'], operations: ['select'] },
            { tables: ['public.orders'], operations: ['update'], write_columns: ['status'] },
          ],
        },
        {
          name: 'migrations',
          match: { groups: ['migrators'] },
          allow: [{ tables: ['public.*', 'pg_temp.*'], operations: 'all' }, { ddl: { schemas: ['public', 'pg_temp'] } }],
        },
      ];
      raw.masking = {
        hash_key: 'attack-corpus-mask-key-0123456789',
        rules: [
          { column: 'public.customers.email', with: 'email', except: { groups: ['support'] } },
          { column: 'public.customers.phone', with: 'partial', options: { keep_last: 2 } },
          { column: 'public.customers.ssn', with: 'redact', filter: 'deny' },
        ],
        detect: { kinds: ['email', 'credit_card', 'ip'], with: 'redact', only: { groups: ['analysts'] } },
      };
      raw.reviews = {
        store: 'memory',
        rules: [
          {
            name: 'migrator-destructive',
            when: ['destructive'],
            match: { groups: ['migrators'] },
            approvers: { groups: ['dba'] },
            mode: 'defer',
          },
        ],
      };
    },
  });
  const pg = gw.pg;
  pg.psql(SEED, 'app');
  const logFile = join(pg.dataDir, 'log', 'server.log');
  let logOffset = 0;
  const readLog = (): string => {
    let size = 0;
    try {
      size = statSync(logFile).size;
    } catch {
      return '';
    }
    if (size <= logOffset) return '';
    const fd = openSync(logFile, 'r');
    try {
      const buf = Buffer.alloc(size - logOffset);
      readSync(fd, buf, 0, buf.length, logOffset);
      logOffset = size;
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  };
  const direct = (sql: string) => pg.psql(sql, 'app');
  // By OID: a rename or a move of a table does not hide its rows from the sum.
  let rels = '';
  const relOids = () => (rels = direct("select string_agg(oid::text, ',' order by relname) from pg_class where oid in ('public.customers'::regclass, 'public.orders'::regclass, 'public.audit_seq'::regclass)").trim());
  relOids();
  const dataSum = () => direct(`select pristine.data_sum('{${rels}}'::oid[])`).trim();
  let seeded = dataSum();
  let seededSchema = '';
  // Temporary schemas (pg_temp_N, made by a backend's first temporary table and kept for the
  // next backend of that number) are the sessions' scratch space, not the database's schema.
  const schemaSumSql = `md5(concat_ws(';',
        (select string_agg(f, ',' order by f) from (select format('%s.%s:%s', n.nspname, c.relname, c.relkind) f
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%') s),
        (select string_agg(f, ',' order by f) from (select format('%s.%s.%s:%s', n.nspname, c.relname, a.attname, a.atttypid) f
           from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
          where a.attnum > 0 and not a.attisdropped and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%') s),
        (select string_agg(f, ',' order by f) from (select format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) f
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema')) s),
        (select string_agg(nspname, ',' order by nspname) from pg_namespace where nspname not like 'pg_temp%' and nspname not like 'pg_toast_temp%'),
        (select string_agg(format('%s:%s', rolname, rolsuper), ',' order by rolname) from pg_roles)))`;
  const schemaSum = () => direct(`select ${schemaSumSql}`).trim();
  const sums = (): Sums => {
    const [data, schema] = direct(`select pristine.data_sum('{${rels}}'::oid[]), ${schemaSumSql}`).trim().split('|');
    return { data, schema };
  };
  seededSchema = schemaSum();

  const rows = direct('select email, phone, ssn from customers order by id')
    .trim()
    .split('\n')
    .map((l) => l.split('|'));
  const values: Record<string, string[]> = { email: rows.map((r) => r[0]), phone: rows.map((r) => r[1]), ssn: rows.map((r) => r[2]) };
  return {
    gw,
    token: (identity) => gw.issuer.sign({ sub: IDENTITIES[identity].sub, groups: IDENTITIES[identity].groups }),
    direct,
    dataSum,
    schemaSum,
    clearValues: (identity) => MASKED[identity].flatMap((col) => values[col]),
    serverLog: readLog,
    sums,
    async restore(now = sums()) {
      if (now.schema !== seededSchema) {
        direct(REBUILD + RESTORE);
        relOids();
        seeded = dataSum();
        await gw.gw.reloadCatalogs();
      } else if (now.data !== seeded) direct(RESTORE);
    },
    stop: () => gw.stop(),
  };
}
