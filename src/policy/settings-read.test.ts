/**
 * A read of pg_catalog.pg_settings that the analysis proved pinned to named settings
 * (`TableAccess.settingNames`) is allowed by default when every name is a setting current_setting
 * may read, compared as the row's name would be (case-insensitively for the list); anything else
 * stays refused as a protected catalog. Denials still win.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TableAccess } from '../sql/types.ts';
import { decide, type PolicyInput } from './index.ts';
import { access, identity, scopeOf, stmt } from './test-builders.ts';

const POLICIES: PolicyInput[] = [
  { name: 'analysts', match: { groups: ['analysts'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] },
  { name: 'no-values', match: { groups: ['cautious'] }, allow: [{ tables: ['public.*'], operations: ['select'] }], deny: [{ columns: ['pg_catalog.pg_settings.setting'] }] },
];

function settingsRead(names: string[] | undefined, columns = ['setting'], relation = 'pg_catalog.pg_settings', opts: { resolved?: boolean } = {}): TableAccess {
  const a = access('select', relation, columns, opts);
  return names === undefined ? a : { ...a, settingNames: names };
}

function verdict(t: TableAccess, groups = ['analysts']): string {
  const scope = scopeOf(POLICIES, identity('someone', groups));
  assert.ok(scope);
  const d = decide(scope, [stmt('select', 'read', { tables: [t] })]);
  return d.verdict === 'allow' ? 'allow' : `deny: ${d.message} (${d.rule})`;
}

describe('reading pg_settings pinned to named settings', () => {
  const cases: [string, TableAccess, RegExp | 'allow'][] = [
    ['one readable setting', settingsRead(['max_index_keys']), 'allow'],
    ['several readable settings', settingsRead(['max_identifier_length', 'server_encoding', 'server_version_num']), 'allow'],
    ['the camel-case name pg_settings keeps', settingsRead(['DateStyle', 'IntervalStyle', 'TimeZone']), 'allow'],
    ['a prefix family', settingsRead(['lc_messages', 'enable_seqscan']), 'allow'],
    ['every column of those rows but the file they come from', settingsRead(['work_mem'], ['name', 'setting', 'source', 'sourceline', 'boot_val', 'reset_val']), 'allow'],
    ['the file a setting comes from (a server path)', settingsRead(['work_mem'], ['name', 'sourcefile']), /may not read column pg_catalog\.pg_settings\.sourcefile/],
    ['every column, the file among them', { ...settingsRead(['work_mem'], []), allColumns: true }, /may not read column pg_catalog\.pg_settings\.sourcefile/],
    ['not proven', settingsRead(undefined), /may not read pg_catalog\.pg_settings \(builtin:protected-catalog\)/],
    ['an empty pin', settingsRead([]), /may not read pg_catalog\.pg_settings/],
    ['a server path', settingsRead(['data_directory']), /may not read pg_catalog\.pg_settings/],
    ['a case variant of a server path', settingsRead(['Data_Directory']), /may not read pg_catalog\.pg_settings/],
    ['a custom setting', settingsRead(['app.secret']), /may not read pg_catalog\.pg_settings/],
    ['a custom setting under a readable prefix', settingsRead(['lc_x.secret']), /may not read pg_catalog\.pg_settings/],
    ['one secret among readable ones', settingsRead(['work_mem', 'primary_conninfo']), /may not read pg_catalog\.pg_settings/],
    ['a name with a trailing space', settingsRead(['work_mem ']), /may not read pg_catalog\.pg_settings/],
    ['another relation named pg_settings', settingsRead(['work_mem'], ['setting'], 'pg_catalog.pg_file_settings'), /may not read pg_catalog\.pg_file_settings/],
    ['an unresolved pg_settings', settingsRead(['work_mem'], ['setting'], 'pg_settings', { resolved: false }), /may not read pg_settings/],
  ];
  for (const [name, t, expect] of cases) {
    it(name, () => {
      const v = verdict(t);
      if (expect === 'allow') assert.equal(v, 'allow');
      else assert.match(v, expect);
    });
  }

  it('a column denial on pg_settings still wins', () => {
    assert.match(verdict(settingsRead(['max_index_keys']), ['cautious']), /may not read column pg_catalog\.pg_settings\.setting/);
    assert.equal(verdict(settingsRead(['max_index_keys'], ['name']), ['cautious']), 'allow');
  });

  it('a write is not a read', () => {
    const scope = scopeOf(POLICIES, identity('someone', ['analysts']));
    assert.ok(scope);
    const t: TableAccess = { ...access('update', 'pg_catalog.pg_settings', ['setting']), settingNames: ['work_mem'] };
    assert.equal(decide(scope, [stmt('update', 'write', { tables: [t] })]).verdict, 'deny');
  });
});
