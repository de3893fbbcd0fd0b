import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkOptions, splitOptions, upstreamStartupParams } from './startup-params.ts';

describe('startup parameters', () => {
  it('splits options the way libpq escapes them', () => {
    assert.deepEqual(splitOptions('-c a=1  -c b=x\\ y'), ['-c', 'a=1', '-c', 'b=x y']);
    assert.deepEqual(splitOptions('  '), []);
  });

  it('splits options as the server does: every C space, a trailing backslash dropped', () => {
    assert.deepEqual(splitOptions('-c a=x\v-crole=boss'), ['-c', 'a=x', '-crole=boss']);
    assert.deepEqual(splitOptions('-c a=x\f-crole=boss'), ['-c', 'a=x', '-crole=boss']);
    assert.deepEqual(splitOptions('-c\ra=1\n-c\tb=2'), ['-c', 'a=1', '-c', 'b=2']);
    assert.deepEqual(splitOptions('-c a=x\\\vy'), ['-c', 'a=x\vy']);
    assert.deepEqual(splitOptions('-c a=x\\'), ['-c', 'a=x']);
    assert.deepEqual(splitOptions('\\'), ['']);
  });

  it('refuses options that are not ASCII (the server may split them at a byte the gateway does not)', () => {
    for (const options of ['-c application_name=x\u00a0-crole=boss', '-c search_path=sch\u00e9ma', '-c a=\u0085']) {
      assert.throws(() => checkOptions(options), (e: any) => e.sqlstate === '42501' && /only ASCII/.test(e.message), options);
    }
    // As a parameter of its own, a value is never split: accepted.
    assert.equal(upstreamStartupParams(new Map([['user', 'x'], ['application_name', 'caf\u00e9']])).application_name, 'caf\u00e9');
  });

  for (const sep of ['\v', '\f', '\r', '\n', '\t']) {
    it(`refuses a protected setting behind ${JSON.stringify(sep)} in options`, () => {
      for (const options of [`-c application_name=x${sep}-crole=boss`, `-c application_name=x${sep}--session-authorization=postgres`, `--application-name=x${sep}-c${sep}role=boss`]) {
        assert.throws(() => checkOptions(options), (e: any) => e.sqlstate === '42501', options);
      }
    });
  }

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
    assert.deepEqual(out, { application_name: 'psql', client_encoding: 'UTF8', standard_conforming_strings: 'on' });
    assert.throws(() => upstreamStartupParams(new Map([['user', 'x'], ['role', 'postgres']])), /role/);
    assert.throws(() => upstreamStartupParams(new Map([['user', 'x'], ['replication', 'database']])), /replication/);
    for (const v of ['true', 'on', '1', 'yes', 'database', 'o', '']) assert.throws(() => upstreamStartupParams(new Map([['user', 'x'], ['replication', v]])), /replication/, v);
    // An ordinary session asked for explicitly, as PostgreSQL reads it: nothing is sent upstream.
    for (const v of ['false', 'FALSE', 'f', 'off', 'of', 'no', 'n', '0']) {
      assert.deepEqual(upstreamStartupParams(new Map([['user', 'x'], ['replication', v]])), { client_encoding: 'UTF8', standard_conforming_strings: 'on' }, v);
    }
  });

  describe('lexing settings are pinned', () => {
    const upstream = (params: [string, string][]) => upstreamStartupParams(new Map([['user', 'x'], ...params]));

    it('always sends client_encoding=UTF8 and standard_conforming_strings=on, over the client', () => {
      assert.deepEqual(upstream([]), { client_encoding: 'UTF8', standard_conforming_strings: 'on' });
      // Accepted spellings are replaced by the pinned value; another case of the name is the same setting.
      for (const [name, value] of [
        ['client_encoding', 'unicode'],
        ['client_encoding', 'SQL_ASCII'],
        ['client_encoding', 'utf-8'],
        ['Client_Encoding', 'Utf_8'],
        ['standard_conforming_strings', 'true'],
        ['STANDARD_CONFORMING_STRINGS', 'ON'],
        ['standard_conforming_strings', '1'],
      ] as const) {
        assert.deepEqual(upstream([[name, value]]), { client_encoding: 'UTF8', standard_conforming_strings: 'on' }, `${name}=${value}`);
      }
    });

    const encodings = ['SJIS', 'sjis', 'Shift_JIS', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB', 'EUC_JP', 'LATIN1', 'WIN1252', 'auto', '', 'UTF16'];
    for (const enc of encodings) {
      it(`refuses client_encoding "${enc}" as a parameter and in options`, () => {
        const check = (e: any) => e.sqlstate === '0A000' && /client_encoding/.test(e.message) && /UTF8/.test(e.hint);
        assert.throws(() => upstream([['client_encoding', enc]]), check);
        if (enc !== '') {
          assert.throws(() => upstream([['options', `-c client_encoding=${enc}`]]), check);
          assert.throws(() => upstream([['options', `-cclient_encoding=${enc}`]]), check);
          assert.throws(() => upstream([['options', `--client-encoding=${enc}`]]), check);
          assert.throws(() => upstream([['options', `-c statement_timeout=5s -c CLIENT_ENCODING=${enc}`]]), check);
        }
      });
    }

    for (const v of ['off', 'OFF', 'false', 'no', '0', 'of', 'maybe']) {
      it(`refuses standard_conforming_strings "${v}" as a parameter and in options`, () => {
        const check = (e: any) => e.sqlstate === '0A000' && /standard_conforming_strings/.test(e.message);
        assert.throws(() => upstream([['standard_conforming_strings', v]]), check);
        assert.throws(() => upstream([['options', `-c standard_conforming_strings=${v}`]]), check);
        assert.throws(() => upstream([['options', `--standard-conforming-strings=${v}`]]), check);
      });
    }

    it('refuses backslash_quote=on, accepts its safe values', () => {
      assert.throws(() => upstream([['backslash_quote', 'on']]), (e: any) => e.sqlstate === '0A000' && /backslash_quote/.test(e.message));
      assert.throws(() => upstream([['options', '-c backslash_quote=on']]), /backslash_quote/);
      for (const v of ['off', 'safe_encoding', 'SAFE_ENCODING']) assert.equal(upstream([['backslash_quote', v]]).backslash_quote, v);
    });

    it('keeps an accepted value in options (the pinned parameter wins over options upstream)', () => {
      assert.deepEqual(upstream([['options', '-c client_encoding=UTF8']]), { options: '-c client_encoding=UTF8', client_encoding: 'UTF8', standard_conforming_strings: 'on' });
    });
  });

  describe('a setting is named once, in lower case upstream', () => {
    // PostgreSQL applies startup settings in order with names read without regard to case: a
    // second spelling would be the value the server runs with, not the one the gateway read.
    const twice: [string, string][][] = [
      [['search_path', 'public'], ['SEARCH_PATH', 'secret']],
      [['Search_Path', 'public'], ['search_path', 'secret']],
      [['statement_timeout', '500'], ['STATEMENT_TIMEOUT', '0']],
      [['application_name', 'a'], ['Application_Name', 'b']],
      [['client_encoding', 'UTF8'], ['CLIENT_ENCODING', 'UTF8']],
      [['options', '-c a.b=1'], ['OPTIONS', '-c search_path=secret']],
      [['user', 'x'], ['USER', 'y']],
    ];
    for (const pairs of twice) {
      it(`refuses ${pairs.map(([k]) => k).join(' and ')}`, () => {
        assert.throws(
          () => upstreamStartupParams(new Map([['user', 'x'], ...pairs].filter(([k], i) => i === 0 || k !== 'user') as [string, string][])),
          (e: any) => e.sqlstate === '08P01' && e.severity === 'FATAL' && /is given more than once/.test(e.message),
        );
      });
    }

    it('sends each setting under its lower-case name, so that the scope settings written over it win', () => {
      const out = upstreamStartupParams(new Map([['user', 'x'], ['STATEMENT_TIMEOUT', '0'], ['Search_Path', 'public']]));
      assert.deepEqual(out, { statement_timeout: '0', search_path: 'public', client_encoding: 'UTF8', standard_conforming_strings: 'on' });
      Object.assign(out, { statement_timeout: '1000ms' });
      assert.deepEqual(Object.keys(out).filter((k) => k.toLowerCase() === 'statement_timeout'), ['statement_timeout']);
    });
  });
});
