/**
 * The built-in safe lists: which settings are readable and why a catalog relation is refused.
 * Table-driven; the decisions that use them are covered by decide.test.ts and the scope corpus.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { catalogRefusalReason, isDangerousFunction, isReadableSetting, SAFE_CATALOG_RELATIONS } from './builtins.ts';

describe('readable settings', () => {
  const rows: [string, boolean][] = [
    ['server_version', true],
    ['server_version_num', true],
    ['timezone', true],
    ['datestyle', true],
    ['lc_collate', true],
    ['lc_messages', true],
    ['enable_seqscan', true],
    ['transaction_isolation', true],
    ['standard_conforming_strings', true],
    ['search_path', true],
    ['max_prepared_transactions', true],
    ['data_directory', false],
    ['config_file', false],
    ['hba_file', false],
    ['ident_file', false],
    ['external_pid_file', false],
    ['ssl_key_file', false],
    ['ssl_cert_file', false],
    ['archive_command', false],
    ['restore_command', false],
    ['primary_conninfo', false],
    ['log_directory', false],
    ['shared_preload_libraries', false],
    ['app.api_key', false],
    ['lc_x.secret', false],
    ['all', false],
  ];
  for (const [name, readable] of rows) {
    test(`${name}: ${readable ? 'readable' : 'refused'}`, () => assert.equal(isReadableSetting(name), readable));
  }
});

describe('system catalogs', () => {
  const safe = ['pg_catalog.pg_class', 'pg_catalog.pg_attribute', 'pg_catalog.pg_namespace', 'pg_catalog.pg_type', 'pg_catalog.pg_proc', 'pg_catalog.pg_roles', 'information_schema.columns', 'information_schema.tables', 'pg_catalog.pg_largeobject_metadata', 'pg_catalog.pg_subscription', 'pg_catalog.pg_seclabels'];
  const refused: [string, RegExp][] = [
    ['pg_catalog.pg_stats', /sampled column values/],
    ['pg_catalog.pg_statistic', /sampled column values/],
    ['pg_catalog.pg_stats_ext_exprs', /sampled column values/],
    ['pg_catalog.pg_statistic_ext_data', /sampled column values/],
    ['pg_catalog.pg_authid', /password hashes/],
    ['pg_catalog.pg_shadow', /password hashes/],
    ['pg_catalog.pg_user_mappings', /connection strings/],
    ['information_schema.user_mapping_options', /connection strings/],
    ['pg_catalog.pg_settings', /server configuration/],
    ['pg_catalog.pg_hba_file_rules', /server configuration/],
    ['pg_catalog.pg_largeobject', /large objects/],
    ['pg_catalog.pg_stat_activity', /other sessions/],
    ['public.pg_stat_statements', /other sessions/],
    ['pg_catalog.pg_something_new', /only the catalog relations that describe the schema/],
  ];
  for (const name of safe) test(`${name} is on the safe list`, () => assert.ok(SAFE_CATALOG_RELATIONS.has(name)));
  for (const [name, why] of refused) {
    test(`${name} is not, because ${why.source}`, () => {
      assert.ok(!SAFE_CATALOG_RELATIONS.has(name));
      assert.match(catalogRefusalReason(name), why);
    });
  }
});

describe('dangerous functions added for settings, statistics and index maintenance', () => {
  for (const name of ['pg_show_all_settings', 'pg_show_all_file_settings', 'pg_hba_file_rules', 'pg_config', 'pg_mcv_list_items', 'brin_summarize_new_values', 'gin_clean_pending_list']) {
    test(name, () => assert.ok(isDangerousFunction('pg_catalog', name)));
  }
  test('current_setting is decided by the settings list, not the denylist', () => assert.ok(!isDangerousFunction('pg_catalog', 'current_setting')));
});
