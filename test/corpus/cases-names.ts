/**
 * Names that run code or reach data the statement does not spell out: overloads, operators and
 * casts created in the database, statistics and other secret-bearing catalogs, settings, and
 * sequence functions whose target is computed. The fixture has planted public.md5(integer),
 * public.reverse(text, integer = 1), public.abs(VARIADIC integer[]), sales.initcap(integer),
 * pg_catalog.format_money(integer) created after initdb, operators public.# (integer, text) and
 * prefix public.## (text), an explicit cast text → public.secretive, an implicit cast
 * text → public.mood, and sequences public.order_seq and public.atk_seq.
 */
import { allow, deny, type Family } from './harness.ts';

const VIA = (fn: string, via: RegExp | string) => new RegExp(`may not call function ${fn.replace(/\./g, '\\.')} \\(reached through ${typeof via === 'string' ? via : via.source}`);
const MD5 = VIA('public.md5', 'md5\\(…\\) written without a schema');
const OP = VIA('public.leak_eq', 'operator public\\.#');
const SECRETIVE = VIA('public.to_secretive', 'the cast from pg_catalog\\.text to public\\.secretive');
const MOOD = VIA('public.text_mood', 'the cast from pg_catalog\\.text to public\\.mood');
const CATALOG = (rel: string) => new RegExp(`may not read ${rel.replace(/\./g, '\\.')}$`);
const SETTING = (name: string) => new RegExp(`may not read setting ${name}$`);
const COMPUTED_SEQ = /may not call (nextval|currval|setval|pg_sequence_last_value) with a sequence computed at run time: it could name public\.atk_seq/;

export const nameFamilies: Family[] = [
  {
    family: 'a call that could resolve to a planted overload is a call to that overload',
    cases: [
      deny('analyst', 'a planted overload of a built-in name is a call to it', 'select md5(1)', MD5, { rule: 'default-deny' }),
      deny('analyst', 'a planted overload is reachable with a column argument', 'select md5(customer_id) from orders', MD5),
      deny('analyst', 'a planted overload is reachable from WHERE', "select id from orders where md5(customer_id) = 'x'", MD5),
      deny('analyst', 'a planted overload is reachable from FROM', 'select * from md5(1)', MD5),
      deny('analyst', 'a planted overload is reachable from a scalar subquery', 'select (select md5(1))', MD5),
      deny('analyst', 'a planted overload is reachable from a CTE', 'with x as (select md5(1) as h) select h from x', MD5),
      deny('analyst', 'a planted overload is reachable from ORDER BY', 'select id from orders order by md5(id)', MD5),
      deny('analyst', 'a planted overload is reachable from a join condition', 'select o.id from orders o join customers c on md5(c.id) = o.status', MD5),
      deny('analyst', 'a planted overload is reachable from EXPLAIN ANALYZE', 'explain analyze select md5(1)', MD5),
      deny('analyst', 'a planted overload is reachable from a cursor', 'declare c cursor for select md5(1)', /md5|cursors/),
      deny('analyst', 'functional notation o.md5 is md5(o), which could be the planted overload', 'select o.md5 from orders o', MD5),
      deny('analyst', 'a quoted name is the same function', 'select "md5"(1)', MD5),
      allow('analyst', 'a schema-qualified built-in cannot reach a planted overload', "select pg_catalog.md5('x')"),
      allow('analyst', 'an argument count the planted overload cannot take does not reach it', "select md5('a', 'b')"),
      deny('analyst', 'an overload with a default is reachable with fewer arguments', 'select reverse(name) from customers', VIA('public.reverse', 'reverse')),
      deny('analyst', 'an overload with a default is reachable with all arguments', "select reverse('x', 2)", VIA('public.reverse', 'reverse')),
      deny('analyst', 'a VARIADIC overload is reachable with many arguments', 'select abs(1, 2, 3)', VIA('public.abs', 'abs')),
      deny('analyst', 'a VARIADIC overload is reachable with one argument', 'select abs(-1)', VIA('public.abs', 'abs')),
      deny('analyst', 'a VARIADIC overload is reachable with VARIADIC array', 'select abs(variadic array[1, 2])', VIA('public.abs', 'abs')),
      allow('analyst', 'a planted overload in a schema off the search path is not reachable unqualified', "select initcap('x')"),
      deny('migrator', 'a planted overload in a schema on the search path is reachable', "select initcap('x')", VIA('sales.initcap', 'initcap'), { searchPath: 'sales, public' }),
      deny('analyst', 'a function created in pg_catalog after initdb is not a built-in', 'select format_money(1)', /may not call function pg_catalog\.format_money/),
      deny('analyst', 'a function created in pg_catalog after initdb is not a built-in when qualified', 'select pg_catalog.format_money(1)', /may not call function pg_catalog\.format_money/),
      deny('analyst', 'a user overload with the same signature as a built-in is hidden only where pg_catalog comes first', "select lower('x')", /may not call function app\.lower/, { searchPath: 'app, pg_catalog' }),
      allow('analyst', 'a user overload with the same signature as a built-in never wins over pg_catalog', "select lower('x')", { searchPath: 'app, public' }),
      allow('reporter', 'a granted planted overload may be called', 'select md5(1)'),
      deny('support', 'a grant of another function does not cover a planted overload', 'select md5(1)', MD5),
    ],
  },
  {
    family: 'operators and casts created by users are calls of their functions',
    cases: [
      deny('analyst', 'a user operator on the search path is a call of its function', "select 1 # 'x'", OP, { rule: 'default-deny' }),
      deny('analyst', 'a user operator named with OPERATOR() is a call of its function', "select 1 operator(public.#) 'x'", OP),
      allow('analyst', 'OPERATOR(pg_catalog.#) cannot be the user operator', 'select 1 operator(pg_catalog.#) 2'),
      deny('analyst', 'a user operator in WHERE is a call of its function', 'select id from orders where customer_id # status', OP),
      deny('analyst', 'a user operator in ANY is a call of its function', "select id from orders where customer_id # any (array['a'])", OP),
      deny('analyst', 'a user operator against a subquery is a call of its function', 'select id from orders where customer_id # any (select status from orders)', OP),
      deny('analyst', 'a user operator in a CASE is a call of its function', "select case when id # 'x' then 1 end from orders", OP),
      deny('analyst', 'a prefix user operator is a call of its function', "select ## 'x'", VIA('public.leak_prefix', 'operator public\\.##')),
      allow('analyst', 'a prefix-only operator written as binary is not it', "select 'a' ## 'b'"),
      allow('reporter', 'a granted user operator may be used', "select id from orders where customer_id # 'x'"),
      deny('analyst', 'an explicit cast to a user type runs its cast function', 'select status::secretive from orders', SECRETIVE),
      deny('analyst', 'CAST(… AS schema.type) runs its cast function', 'select cast(status as public.secretive) from orders', SECRETIVE),
      deny('analyst', 'an array cast runs the element cast function', "select array['a']::secretive[]", VIA('public.to_secretive', 'the cast')),
      deny('analyst', 'a function-style cast runs its cast function', "select secretive('x')", /may not call function (secretive|public\.to_secretive)/),
      deny('analyst', 'a cast in WHERE runs its cast function', "select id from orders where status::secretive is null", SECRETIVE),
      allow('analyst', 'a cast to a built-in type runs no user cast', 'select status::text, id::bigint from orders'),
      deny('reporter', 'a column of a type with an implicit user cast brings the cast', "select id from moods where feeling = 'happy'", /public\.text_mood/),
      deny('analyst', 'a ::type whose values an implicit user cast makes brings the cast', "select 'happy'::mood", MOOD),
    ],
  },
  {
    family: 'statistics expose column values',
    cases: [
      deny('analyst', 'pg_stats histogram bounds are sampled values', "select histogram_bounds::text from pg_stats where tablename = 'customers'", CATALOG('pg_catalog.pg_stats'), { rule: 'builtin:protected-catalog' }),
      deny('analyst', 'pg_stats qualified is refused', 'select * from pg_catalog.pg_stats', CATALOG('pg_catalog.pg_stats')),
      deny('analyst', 'pg_statistic holds the raw statistics', 'select * from pg_statistic', CATALOG('pg_catalog.pg_statistic')),
      deny('analyst', 'pg_stats_ext holds extended statistics values', 'select * from pg_stats_ext', CATALOG('pg_catalog.pg_stats_ext')),
      deny('analyst', 'pg_stats_ext_exprs holds statistics of expressions (an index on reverse(ssn))', 'select * from pg_stats_ext_exprs', CATALOG('pg_catalog.pg_stats_ext_exprs')),
      deny('analyst', 'pg_statistic_ext_data holds extended statistics data', 'select * from pg_statistic_ext_data', CATALOG('pg_catalog.pg_statistic_ext_data')),
      deny('analyst', 'statistics are refused inside a subquery', 'select name from customers where name in (select attname from pg_stats)', CATALOG('pg_catalog.pg_stats')),
      deny('analyst', 'statistics are refused inside a CTE', 'with s as (select most_common_vals from pg_stats) select * from s', CATALOG('pg_catalog.pg_stats')),
      deny('migrator', 'statistics stay refused for a wide scope', 'select * from pg_stats', CATALOG('pg_catalog.pg_stats')),
      deny('analyst', 'decoding an MCV list is refused', 'select pg_mcv_list_items(null)', /may not call function (pg_catalog\.)?pg_mcv_list_items/),
      allow('analyst', 'the definitions of extended statistics are readable', 'select * from pg_catalog.pg_statistic_ext'),
    ],
  },
  {
    family: 'secret-bearing catalogs are refused at the gateway; catalogs that describe the schema are readable',
    cases: [
      deny('analyst', 'pg_authid holds password hashes', 'select rolpassword from pg_authid', CATALOG('pg_catalog.pg_authid'), { rule: 'builtin:protected-catalog' }),
      deny('analyst', 'pg_shadow holds password hashes', 'select passwd from pg_shadow', CATALOG('pg_catalog.pg_shadow')),
      deny('analyst', 'pg_user_mapping holds remote passwords', 'select umoptions from pg_user_mapping', CATALOG('pg_catalog.pg_user_mapping')),
      deny('analyst', 'pg_user_mappings holds remote passwords', 'select * from pg_user_mappings', CATALOG('pg_catalog.pg_user_mappings')),
      deny('analyst', 'information_schema.user_mapping_options holds remote passwords', 'select option_value from information_schema.user_mapping_options', CATALOG('information_schema.user_mapping_options')),
      deny('analyst', 'pg_hba_file_rules shows the server configuration', 'select * from pg_hba_file_rules', CATALOG('pg_catalog.pg_hba_file_rules')),
      deny('analyst', 'pg_file_settings shows the configuration files', 'select * from pg_file_settings', CATALOG('pg_catalog.pg_file_settings')),
      deny('analyst', 'pg_settings shows every setting', "select setting from pg_settings where name = 'data_directory'", CATALOG('pg_catalog.pg_settings')),
      deny('analyst', 'pg_largeobject holds data no grant covers', 'select data from pg_largeobject', CATALOG('pg_catalog.pg_largeobject')),
      deny('analyst', 'pg_subscription holds connection strings', 'select subconninfo from pg_subscription', CATALOG('pg_catalog.pg_subscription')),
      deny('analyst', 'pg_locks shows other sessions', 'select * from pg_locks', CATALOG('pg_catalog.pg_locks')),
      deny('analyst', 'a catalog relation the gateway does not know is refused', 'select * from pg_catalog.pg_new_secrets', CATALOG('pg_catalog.pg_new_secrets')),
      deny('migrator', "pg_stat_statements shows other sessions' statements even in a granted schema", 'select query from sales.pg_stat_statements', CATALOG('sales.pg_stat_statements'), { rule: 'builtin:protected-catalog' }),
      deny('migrator', 'a wildcard grant does not reach a secret-bearing catalog', 'select * from pg_authid', CATALOG('pg_catalog.pg_authid')),
      deny('analyst', 'the file-configuration function is refused like its view', 'select * from pg_hba_file_rules()', /may not call function (pg_catalog\.)?pg_hba_file_rules/),
      deny('analyst', 'pg_show_all_settings is refused like pg_settings', 'select * from pg_show_all_settings()', /may not call function (pg_catalog\.)?pg_show_all_settings/),
      allow('analyst', 'pg_namespace describes the schema', 'select nspname from pg_namespace'),
      allow('analyst', 'pg_attribute describes the schema', 'select attname from pg_catalog.pg_attribute'),
      allow('analyst', 'pg_type describes the schema', 'select * from pg_type'),
      allow('analyst', 'pg_proc describes the schema', 'select * from pg_proc'),
      allow('analyst', 'pg_roles hides passwords', 'select rolname from pg_roles'),
      allow('analyst', 'information_schema.columns describes the schema', 'select column_name from information_schema.columns'),
    ],
  },
  {
    family: 'settings are readable only from a safe list, by a constant name',
    cases: [
      deny('analyst', 'data_directory is a server path', "select current_setting('data_directory')", SETTING('data_directory'), { rule: 'builtin:protected-settings' }),
      deny('analyst', 'SHOW of a server path is refused', 'show data_directory', SETTING('data_directory')),
      deny('analyst', 'config_file is a server path', "select current_setting('config_file')", SETTING('config_file')),
      deny('analyst', 'hba_file is a server path', 'show hba_file', SETTING('hba_file')),
      deny('analyst', 'archive_command is a command', "select current_setting('archive_command')", SETTING('archive_command')),
      deny('analyst', 'primary_conninfo is a connection string', "select current_setting('primary_conninfo')", SETTING('primary_conninfo')),
      deny('analyst', 'ssl_key_file is a server path', "select current_setting('ssl_key_file')", SETTING('ssl_key_file')),
      deny('analyst', 'log_directory is a server path', "select current_setting('log_directory')", SETTING('log_directory')),
      deny('analyst', 'a setting name is case-insensitive', "select current_setting('DATA_DIRECTORY')", SETTING('data_directory')),
      deny('analyst', 'current_setting with missing_ok is still a read', "select current_setting('data_directory', true)", SETTING('data_directory')),
      deny('analyst', 'a custom setting may hold a secret', "select current_setting('app.api_key')", SETTING('app\\.api_key')),
      deny('analyst', 'a computed setting name is refused', "select current_setting('data_' || 'directory')", /may not read a setting whose name is not a constant/),
      deny('analyst', 'a setting name from a row is refused', "select current_setting(n) from (values ('data_directory')) v(n)", /may not read a setting whose name is not a constant/),
      deny('analyst', 'a secret setting read inside set_config is refused', "select set_config('application_name', current_setting('data_directory'), false)", SETTING('data_directory')),
      allow('analyst', 'server_version is readable', 'show server_version'),
      allow('analyst', 'server_version_num is readable', "select current_setting('server_version_num')"),
      allow('analyst', 'TimeZone is readable in any case', "select current_setting('TimeZone')"),
      allow('analyst', 'the transaction isolation level is readable', 'show transaction isolation level'),
      allow('analyst', 'lc_ settings are readable', 'show lc_collate'),
      allow('analyst', 'standard_conforming_strings is readable', "select current_setting('standard_conforming_strings')"),
    ],
  },
  {
    family: 'a sequence named at run time could be any sequence',
    cases: [
      deny('migrator', 'nextval of a name built from values could advance any sequence', "select nextval(s::regclass) from (values ('public.atk' || '_seq')) v(s)", COMPUTED_SEQ),
      deny('migrator', 'nextval of an OID looked up in pg_class could advance any sequence', "select nextval((select oid from pg_class where relname = 'atk_seq')::regclass)", COMPUTED_SEQ),
      deny('migrator', 'nextval of a parameter could advance any sequence', 'select nextval($1)', COMPUTED_SEQ),
      deny('migrator', 'nextval of a concatenation could advance any sequence', "select nextval('public.' || 'atk_seq')", COMPUTED_SEQ),
      deny('migrator', 'currval of a computed name could read any sequence', "select currval(s) from (values ('public.atk_seq')) v(s)", COMPUTED_SEQ),
      deny('migrator', 'nextval of an unknown OID could advance any sequence', 'select nextval(99999)', COMPUTED_SEQ),
      deny('migrator', 'nextval of the OID of an ungranted sequence is that sequence', 'select nextval(16396)', /may not update public\.atk_seq/),
      allow('migrator', 'nextval of the OID of a granted sequence is allowed', 'select nextval(16388)'),
      deny('migrator', "nextval('…'::regclass) of an ungranted sequence is refused", "select nextval('public.atk_seq'::regclass)", /may not update public\.atk_seq/),
      allow('migrator', 'nextval of a granted sequence named as a constant is allowed', "select nextval('public.order_seq')"),
      deny('analyst', 'currval of a computed name needs every sequence', "select currval(s) from (values ('x')) v(s)", COMPUTED_SEQ),
      allow('reporter', 'a computed sequence name is allowed where every sequence may be used', "select nextval(s::regclass) from (values ('public.atk_seq')) v(s)"),
      deny('analyst', 'brin maintenance on an index named by a value is refused', "select brin_summarize_new_values('customers_idx'::regclass)", /may not call function (pg_catalog\.)?brin_summarize_new_values/),
    ],
  },
];
