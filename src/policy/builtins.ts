/**
 * What every scope gets without asking, and what no scope gets unless a policy names it exactly.
 *
 * Built-in functions (pg_catalog, information_schema) are callable by default — clients,
 * drivers and psql's backslash commands live on them — except the dangerous ones listed here.
 * A dangerous function is refused even when a wildcard pattern (`pg_catalog.*`) would allow it:
 * only an allow entry naming the function exactly (`pg_catalog.pg_read_file`) lifts it, so that
 * lifting one is always a deliberate, reviewable line in the config.
 */
import type { SessionPermission } from './schema.ts';
import { compilePattern, matches, type NamePattern } from './pattern.ts';

/**
 * Functions refused unless a policy allowlists that exact function. Schema-qualified patterns;
 * `*.` marks extension functions, which live in whatever schema the extension was installed in.
 *
 * Why each family:
 * - server files: read, list or write files as the server's OS user (pg_read_file, pg_ls_*, adminpack).
 * - large objects: lo_import/lo_export touch server files; the rest read and write data no table
 *   grant covers (large objects are not tables).
 * - dblink, postgres_fdw: open connections elsewhere and run arbitrary SQL there, unseen.
 * - SQL from a string: query_to_xml, cursor_to_xml, table_to_xml, schema_to_xml, database_to_xml
 *   (and their xmlschema variants), ts_stat and ts_rewrite run a query or read a table named in a
 *   string argument, which the analysis cannot see.
 * - other sessions and the server: signalling backends, reloading configuration, rotating logs,
 *   promotion, WAL and backup control, statistics resets, memory-context dumps.
 * - other sessions' query text: pg_stat_get_activity and pg_stat_get_backend_activity (every
 *   identity shares the gateway's upstream role, so "own role" means "every agent").
 * - replication: slots and logical decoding read every change to every table.
 * - setval: rewinds a sequence and breaks the application's inserts; its target is a string.
 * - settings and configuration: pg_show_all_settings, the configuration-file views' functions and
 *   pg_config show server paths, commands and connection strings (see READABLE_SETTINGS).
 * - statistics: pg_mcv_list_items decodes sampled column values.
 * - index maintenance: brin_summarize_*, gin_clean_pending_list write to an index named by a value.
 *
 * Deliberately allowed: pg_sleep (bounded by statement_timeout, which the policy caps);
 * txid_* / pg_current_xact_id (harmless); pg_advisory_* (gated by the `lock` session permission,
 * like LOCK); pg_notify (gated by `notify`, like NOTIFY); set_config (decided as the SET it is).
 */
export const DANGEROUS_FUNCTIONS: readonly string[] = [
  // Server files.
  'pg_catalog.pg_read_file',
  'pg_catalog.pg_read_binary_file',
  'pg_catalog.pg_ls_*',
  'pg_catalog.pg_stat_file',
  'pg_catalog.pg_current_logfile',
  '*.pg_file_*',
  '*.pg_logdir_ls',
  // Large objects.
  'pg_catalog.lo_*',
  'pg_catalog.loread',
  'pg_catalog.lowrite',
  // Remote connections.
  '*.dblink*',
  '*.postgres_fdw_*',
  // SQL from a string.
  'pg_catalog.query_to_xml*',
  'pg_catalog.query_to_xmlschema',
  'pg_catalog.cursor_to_xml*',
  'pg_catalog.table_to_xml*',
  'pg_catalog.schema_to_xml*',
  'pg_catalog.database_to_xml*',
  'pg_catalog.ts_stat',
  'pg_catalog.ts_rewrite',
  // Other sessions and the server.
  'pg_catalog.pg_terminate_backend',
  'pg_catalog.pg_cancel_backend',
  'pg_catalog.pg_signal_backend',
  'pg_catalog.pg_reload_conf',
  'pg_catalog.pg_rotate_logfile',
  'pg_catalog.pg_promote',
  'pg_catalog.pg_switch_wal',
  'pg_catalog.pg_backup_*',
  'pg_catalog.pg_create_restore_point',
  'pg_catalog.pg_wal_replay_*',
  'pg_catalog.pg_log_backend_memory_contexts',
  'pg_catalog.pg_log_standby_snapshot',
  'pg_catalog.pg_stat_reset*',
  '*.pg_stat_statements_reset',
  '*.pg_stat_statements',
  '*.pg_stat_statements_info',
  'pg_catalog.pg_stat_get_activity',
  'pg_catalog.pg_stat_get_backend_activity',
  'pg_catalog.pg_import_system_collations',
  // Replication.
  'pg_catalog.pg_logical_*',
  'pg_catalog.pg_replication_*',
  'pg_catalog.pg_create_*_replication_slot',
  'pg_catalog.pg_drop_replication_slot',
  'pg_catalog.pg_copy_*_replication_slot',
  'pg_catalog.pg_sync_replication_slots',
  // Sequences.
  'pg_catalog.setval',
  // Settings and server configuration (paths, commands, connection strings): read through
  // current_setting / SHOW under READABLE_SETTINGS instead.
  'pg_catalog.pg_show_all_settings',
  'pg_catalog.pg_show_all_file_settings',
  'pg_catalog.pg_hba_file_rules',
  'pg_catalog.pg_ident_file_mappings',
  'pg_catalog.pg_config',
  'pg_catalog.pg_get_replication_slots',
  // Statistics: sampled column values.
  'pg_catalog.pg_mcv_list_items',
  // Index maintenance on an index named by a regclass (a write the analysis cannot attribute).
  'pg_catalog.brin_summarize_new_values',
  'pg_catalog.brin_summarize_range',
  'pg_catalog.brin_desummarize_range',
  'pg_catalog.gin_clean_pending_list',
];

/**
 * System catalog relations readable by default: what psql's \d family (\d, \dt, \d+ table, \df,
 * \dn, \du, \l, \dv, \di, \ds, \dx, \dT, \dp, \dD, \dC, \do, \dc, \dy, \dF, \dE, \dm, \des,
 * \dRp, \dX, \dL, \dA, \da, \sf), drivers' metadata queries (node-postgres, postgres.js, JDBC;
 * pgJDBC's foreign-key calls also read pg_settings pinned to max_index_keys, see below), the MCP postgres
 * server and ORMs' introspection read. They describe the schema: names, types,
 * definitions, comments, privileges — no stored values, no secrets.
 *
 * Every other relation of pg_catalog and information_schema is refused unless an allow entry names
 * it exactly (a wildcard does not reach system catalogs): statistics hold sampled column values
 * (pg_statistic, pg_stats, pg_stats_ext, pg_stats_ext_exprs, pg_statistic_ext_data), others hold
 * password hashes (pg_authid, pg_shadow), connection strings with passwords (pg_user_mapping,
 * pg_user_mappings, information_schema.user_mapping_options; pg_subscription is readable but for
 * its connection string, see HIDDEN_CATALOG_COLUMNS), server
 * configuration and paths (pg_settings, pg_file_settings, pg_hba_file_rules,
 * pg_ident_file_mappings, pg_config, pg_db_role_setting; a read of pg_settings the analysis
 * proved pinned by name to READABLE_SETTINGS is allowed, see policy/tables.ts), large object
 * data (pg_largeobject; pg_largeobject_metadata holds only their owners and privileges, as
 * pg_dump reads them), other sessions' statements and locks (pg_stat_activity, pg_locks, pg_prepared_xacts), sequence
 * values (pg_sequences), replication state, or whatever a future version adds.
 */
export const SAFE_CATALOG_RELATIONS: ReadonlySet<string> = new Set([
  ...[
    'pg_aggregate', 'pg_am', 'pg_amop', 'pg_amproc', 'pg_attrdef', 'pg_attribute', 'pg_auth_members', 'pg_available_extension_versions',
    'pg_available_extensions', 'pg_cast', 'pg_class', 'pg_collation', 'pg_constraint', 'pg_conversion', 'pg_cursors', 'pg_database',
    'pg_default_acl', 'pg_depend', 'pg_description', 'pg_enum', 'pg_event_trigger', 'pg_extension', 'pg_foreign_data_wrapper',
    'pg_foreign_server', 'pg_foreign_table', 'pg_index', 'pg_indexes', 'pg_inherits', 'pg_init_privs', 'pg_language', 'pg_matviews',
    'pg_namespace', 'pg_opclass', 'pg_operator', 'pg_opfamily', 'pg_partitioned_table', 'pg_policies', 'pg_policy',
    'pg_largeobject_metadata', 'pg_prepared_statements', 'pg_proc', 'pg_publication', 'pg_publication_namespace', 'pg_publication_rel', 'pg_publication_tables',
    'pg_range', 'pg_rewrite', 'pg_roles', 'pg_rules', 'pg_seclabel', 'pg_seclabels', 'pg_sequence', 'pg_shdepend', 'pg_shdescription', 'pg_shseclabel',
    'pg_stat_gssapi', 'pg_stat_ssl', 'pg_subscription',
    'pg_statistic_ext', 'pg_tables', 'pg_tablespace', 'pg_timezone_abbrevs', 'pg_timezone_names', 'pg_transform', 'pg_trigger',
    'pg_ts_config', 'pg_ts_config_map', 'pg_ts_dict', 'pg_ts_parser', 'pg_ts_template', 'pg_type', 'pg_user', 'pg_views',
  ].map((n) => `pg_catalog.${n}`),
  ...[
    'administrable_role_authorizations', 'applicable_roles', 'attributes', 'character_sets', 'check_constraint_routine_usage',
    'check_constraints', 'collation_character_set_applicability', 'collations', 'column_column_usage', 'column_domain_usage',
    'column_options', 'column_privileges', 'column_udt_usage', 'columns', 'constraint_column_usage', 'constraint_table_usage',
    'data_type_privileges', 'domain_constraints', 'domain_udt_usage', 'domains', 'element_types', 'enabled_roles',
    'foreign_data_wrappers', 'foreign_servers', 'foreign_table_options', 'foreign_tables', 'information_schema_catalog_name',
    'key_column_usage', 'parameters', 'referential_constraints', 'role_column_grants', 'role_routine_grants', 'role_table_grants',
    'role_udt_grants', 'role_usage_grants', 'routine_column_usage', 'routine_privileges', 'routine_routine_usage',
    'routine_sequence_usage', 'routine_table_usage', 'routines', 'schemata', 'sequences', 'sql_features', 'sql_implementation_info',
    'sql_parts', 'sql_sizing', 'table_constraints', 'table_privileges', 'tables', 'transforms', 'triggered_update_columns', 'triggers',
    'udt_privileges', 'usage_privileges', 'user_defined_types', 'view_column_usage', 'view_routine_usage', 'view_table_usage', 'views',
  ].map((n) => `information_schema.${n}`),
]);

/**
 * Columns of safe catalog relations that are refused all the same: per-role settings (`ALTER ROLE
 * … SET`) can hold custom settings with secrets. psql's \du does not read them.
 */
export const HIDDEN_CATALOG_COLUMNS: ReadonlyMap<string, readonly string[]> = new Map([
  ['pg_catalog.pg_roles', ['rolconfig']],
  ['pg_catalog.pg_user', ['useconfig']],
  // A read of pg_settings pinned to readable settings: the file a setting was read from is a
  // server path (as config_file is), shown to roles that may read all settings.
  ['pg_catalog.pg_settings', ['sourcefile']],
  // A subscription's connection string can hold the publisher's password (PostgreSQL grants
  // every other column to PUBLIC; pg_dump counts the rows).
  ['pg_catalog.pg_subscription', ['subconninfo']],
]);

/** Why a hidden catalog column is refused (the refusal's hint). */
export function hiddenColumnReason(relation: string): string {
  if (relation === 'pg_catalog.pg_settings') return 'The file a setting comes from is a path on the database server';
  if (relation === 'pg_catalog.pg_subscription') return 'A connection string can hold a password';
  return 'Per-role settings can hold secrets';
}

/** Why some catalog relations outside SAFE_CATALOG_RELATIONS are refused (for the hint). */
export const PROTECTED_CATALOG_REASONS: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /^pg_catalog\.pg_(statistic|statistic_ext_data|stats|stats_ext|stats_ext_exprs)$/, why: 'statistics hold sampled column values (most common values, histogram bounds)' },
  { pattern: /^pg_catalog\.pg_(authid|shadow)$/, why: 'it holds password hashes' },
  { pattern: /^(pg_catalog\.pg_user_mappings?|information_schema\.(user_mapping_options|user_mappings|_pg_user_mappings))$/, why: 'it holds connection strings and passwords' },
  { pattern: /^pg_catalog\.pg_(settings|file_settings|hba_file_rules|ident_file_mappings|config|db_role_setting)$/, why: 'it shows server configuration: paths, commands, connection strings and secrets' },
  { pattern: /^pg_catalog\.pg_largeobject$/, why: 'large objects hold data no table grant covers' },
  { pattern: /^pg_catalog\.pg_(stat_activity|locks|prepared_xacts)$|\.pg_stat_statements(_info)?$/, why: "it shows other sessions' statements, and every session shares the gateway's upstream role" },
];

/**
 * Relations of extensions, in whatever schema the extension was installed, that show other
 * sessions' statements (with their literal values): like system catalogs outside the safe list,
 * only an allow entry naming them exactly lifts them.
 */
export const PROTECTED_EXTENSION_RELATIONS: readonly string[] = ['pg_stat_statements', 'pg_stat_statements_info'];

/**
 * Catalog relations named for compatibility: the ones refused with a specific reason. Every
 * relation of pg_catalog and information_schema outside SAFE_CATALOG_RELATIONS is refused.
 */
export const PROTECTED_CATALOG_RELATIONS: readonly string[] = [
  'pg_catalog.pg_stat_activity', 'pg_catalog.pg_statistic', 'pg_catalog.pg_statistic_ext_data', 'pg_catalog.pg_stats', 'pg_catalog.pg_stats_ext',
  'pg_catalog.pg_stats_ext_exprs', 'pg_catalog.pg_authid', 'pg_catalog.pg_shadow', 'pg_catalog.pg_user_mapping', 'pg_catalog.pg_user_mappings',
  'pg_catalog.pg_settings', 'pg_catalog.pg_file_settings', 'pg_catalog.pg_hba_file_rules',
  'pg_catalog.pg_ident_file_mappings', 'pg_catalog.pg_largeobject',
];

/**
 * Settings readable with current_setting() and SHOW (by a constant name): what clients, drivers
 * and tools read — server version and encoding, date/time and locale formats, transaction and
 * session state, limits, planner switches. Others (data_directory, config_file, hba_file,
 * ident_file, external_pid_file, ssl_*_file, archive_command, restore_command,
 * primary_conninfo, log_directory, custom settings …) can hold paths, commands, connection
 * strings and secrets, and are refused; so are SHOW ALL and pg_settings, but for a read of
 * pg_settings pinned by `WHERE name = '…'` to settings of this list (sql/settings-pin.ts).
 * Every name added here becomes readable through pg_settings too, with all its columns
 * (reset_val, boot_val, sourcefile …). max_index_keys is a constant fixed when the server was
 * built (INDEX_MAX_KEYS), which pgJDBC's foreign-key metadata reads through pg_settings;
 * max_prepared_transactions tells drivers (psycopg's two-phase commit) whether PREPARE
 * TRANSACTION can work at all.
 */
export const READABLE_SETTINGS: ReadonlySet<string> = new Set([
  'server_version', 'server_version_num', 'server_encoding', 'client_encoding', 'datestyle', 'intervalstyle', 'timezone',
  'timezone_abbreviations', 'integer_datetimes', 'standard_conforming_strings', 'escape_string_warning', 'backslash_quote',
  'transaction_isolation', 'transaction_read_only', 'transaction_deferrable', 'default_transaction_isolation',
  'default_transaction_read_only', 'default_transaction_deferrable', 'search_path', 'application_name', 'max_identifier_length',
  'max_index_keys', 'max_function_args', 'block_size', 'segment_size', 'wal_block_size', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'idle_session_timeout', 'extra_float_digits', 'bytea_output', 'row_security', 'is_superuser',
  'session_authorization', 'role', 'client_min_messages', 'default_text_search_config', 'xmloption', 'xmlbinary', 'array_nulls',
  'synchronous_commit', 'plan_cache_mode', 'work_mem', 'maintenance_work_mem', 'max_connections', 'jit', 'check_function_bodies',
  'default_table_access_method', 'default_toast_compression', 'in_hot_standby', 'data_checksums', 'server_version', 'cursor_tuple_fraction',
  'random_page_cost', 'seq_page_cost', 'effective_cache_size', 'temp_buffers', 'quote_all_identifiers', 'default_with_oids',
  'gin_fuzzy_search_limit', 'transform_null_equals', 'constraint_exclusion', 'from_collapse_limit', 'join_collapse_limit',
  'restrict_nonsystem_relation_kind', 'max_prepared_transactions',
]);

const READABLE_PREFIXES = ['lc_', 'enable_'];

export const READABLE_SETTINGS_SUMMARY = 'server_version, encodings, DateStyle, IntervalStyle, TimeZone, lc_*, transaction and session settings, limits, timeouts, enable_* …';

/** Whether a setting (lower case) may be read. */
export function isReadableSetting(name: string): boolean {
  return READABLE_SETTINGS.has(name) || READABLE_PREFIXES.some((p) => name.startsWith(p) && !name.includes('.'));
}

/** Why a catalog relation outside the safe list is refused. */
export function catalogRefusalReason(qualifiedName: string): string {
  return PROTECTED_CATALOG_REASONS.find((r) => r.pattern.test(qualifiedName))?.why ?? 'only the catalog relations that describe the schema are readable by default';
}

/** Schemas whose relations are readable and whose functions are callable by default. */
export const BUILTIN_SCHEMAS: readonly string[] = ['pg_catalog', 'information_schema'];

/** Built-in functions the policy treats as the statements they stand for. */
export const SESSION_GATED_FUNCTIONS: readonly { pattern: string; permission: SessionPermission }[] = [
  { pattern: 'pg_catalog.pg_notify', permission: 'notify' },
  { pattern: 'pg_catalog.pg_advisory_lock*', permission: 'lock' },
  { pattern: 'pg_catalog.pg_advisory_xact_lock*', permission: 'lock' },
  { pattern: 'pg_catalog.pg_try_advisory_*', permission: 'lock' },
];

/** Built-in functions that write, refused in read-only scopes (the database would refuse them too). */
export const WRITING_FUNCTIONS: readonly string[] = ['pg_catalog.nextval', 'pg_catalog.setval'];

export interface ProtectedSetting {
  /** Setting name pattern (lower case; `*` wildcard). */
  name: string;
  /** Values a client may set (compared lower-cased, quotes and `-`/`_` ignored); absent = none. RESET is allowed when present. */
  allowed?: readonly string[];
  /** A session permission that lifts the protection. */
  unless?: SessionPermission;
  why: string;
}

/**
 * Settings a client may not change (SET, SET LOCAL, RESET, set_config). search_path,
 * statement_timeout and the read-only settings have their own rules (see `settings.ts`).
 */
export const PROTECTED_SETTINGS: readonly ProtectedSetting[] = [
  { name: 'role', why: 'the gateway chooses the upstream role' },
  { name: 'session_authorization', why: 'the gateway chooses the upstream role' },
  { name: 'session_replication_role', why: 'replica mode skips triggers and foreign-key checks' },
  { name: '*_preload_libraries', why: 'loads server code' },
  { name: 'dynamic_library_path', why: 'changes which server code loads' },
  {
    name: 'client_encoding',
    // SQL_ASCII turns conversion off, and the server then reads the bytes in the database's
    // encoding: UTF-8 in a UTF8 database. In another database the session watch ends the session
    // when the server reports it (lexing-settings.ts, readsAsUtf8).
    allowed: ['utf8', 'unicode', 'sql_ascii'],
    why: 'the gateway reads statements as UTF-8; a multi-byte client encoding would let the server read a different statement than the one decided',
  },
  {
    name: 'standard_conforming_strings',
    allowed: ['on', 'true', 'yes', '1'],
    why: 'backslash escapes in plain strings would let the server read a different statement than the one decided',
  },
  { name: 'backslash_quote', allowed: ['off', 'false', 'no', '0', 'safe_encoding'], why: 'a backslash-quoted string could end where the gateway does not expect' },
  { name: 'log_*', why: 'statement logging is the operator\'s audit trail' },
  { name: 'debug_*', why: 'developer settings' },
  { name: 'trace_*', why: 'developer settings' },
  { name: 'allow_*', why: 'developer settings that loosen catalog protection' },
  { name: 'ignore_*', why: 'developer settings that skip integrity checks' },
  { name: 'zero_damaged_pages', why: 'destroys data on read' },
  { name: 'event_triggers', why: 'event triggers are the operator\'s DDL guard' },
  {
    name: '*.*',
    unless: 'custom_settings',
    why: 'custom settings (app.tenant_id …) often feed row-level security policies and extensions',
  },
];

export interface CompiledProtectedSetting extends ProtectedSetting {
  test(name: string): boolean;
}

/** PROTECTED_SETTINGS with their name patterns compiled (one glob over the whole name). */
export const COMPILED_PROTECTED_SETTINGS: readonly CompiledProtectedSetting[] = PROTECTED_SETTINGS.map((s) => {
  const re = new RegExp(`^${s.name.split('*').map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return { ...s, test: (name: string) => re.test(name) };
});

export const COMPILED_DANGEROUS: readonly NamePattern[] = DANGEROUS_FUNCTIONS.map((p) => compilePattern(p, 2));
export const COMPILED_GATED: readonly { pattern: NamePattern; permission: SessionPermission }[] = SESSION_GATED_FUNCTIONS.map((g) => ({
  pattern: compilePattern(g.pattern, 2),
  permission: g.permission,
}));
export const COMPILED_WRITING: readonly NamePattern[] = WRITING_FUNCTIONS.map((p) => compilePattern(p, 2));

export function isDangerousFunction(schema: string, name: string): boolean {
  return COMPILED_DANGEROUS.some((p) => matches(p, schema, name));
}

export function gatedPermission(schema: string, name: string): SessionPermission | undefined {
  return COMPILED_GATED.find((g) => matches(g.pattern, schema, name))?.permission;
}

export function isWritingFunction(schema: string, name: string): boolean {
  return COMPILED_WRITING.some((p) => matches(p, schema, name));
}
