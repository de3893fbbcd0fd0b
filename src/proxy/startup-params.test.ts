import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkOptions, splitOptions, upstreamStartupParams } from './startup-params.ts';

describe('startup parameters', () => {
  it('splits options the way libpq escapes them', () => {
    assert.deepEqual(splitOptions('-c a=1  -c b=x\\ y'), ['-c', 'a=1', '-c', 'b=x y']);
    assert.deepEqual(splitOptions('  '), []);
  });

  const refused: [string, string][] = [
    ['-c role=postgres', 'role'],
    ['-crole=postgres', 'role'],
    ['--role=postgres', 'role'],
    ['-c session_authorization=postgres', 'session_authorization'],
    ['-c SESSION_AUTHORIZATION=postgres', 'SESSION_AUTHORIZATION'],
    ['--default-transaction-read-only=off', 'default_transaction_read_only'],
    ['-c statement_timeout=5s -c role=x', 'role'],
    ['-c session_preload_libraries=evil', 'session_preload_libraries'],
  ];
  for (const [options, name] of refused) {
    it(`refuses options "${options}"`, () => {
      assert.throws(() => checkOptions(options), (e: any) => e.sqlstate === '42501' && e.message.includes(name));
    });
  }

  it('refuses options that are not settings', () => {
    assert.throws(() => checkOptions('-D /tmp'), /not allowed/);
    assert.throws(() => checkOptions('-c novalue'), /invalid startup option/);
  });

  it('accepts ordinary settings', () => {
    checkOptions('-c statement_timeout=5s --search_path=public');
  });

  it('drops user and database, refuses protected settings and replication', () => {
    const out = upstreamStartupParams(new Map([['user', 'x'], ['database', 'app'], ['application_name', 'psql'], ['client_encoding', 'UTF8']]));
    assert.deepEqual(out, { application_name: 'psql', client_encoding: 'UTF8' });
    assert.throws(() => upstreamStartupParams(new Map([['user', 'x'], ['role', 'postgres']])), /role/);
    assert.throws(() => upstreamStartupParams(new Map([['user', 'x'], ['replication', 'database']])), /replication/);
  });
});
