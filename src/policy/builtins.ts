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
];

/**
 * Catalog relations that are not readable by default even though the rest of pg_catalog is:
 * they show other sessions' statements, and every gateway session shares one upstream role.
 * An allow entry naming the relation exactly lifts it.
 */
export const PROTECTED_CATALOG_RELATIONS: readonly string[] = ['pg_catalog.pg_stat_activity'];

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
  { name: 'row_security', allowed: ['on', 'true', 'yes', '1'], why: 'row-level security stays on' },
  {
    name: 'client_encoding',
    allowed: ['utf8', 'unicode'],
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
