import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pinnedSettingDrift, startupLexingRefusal } from './lexing-settings.ts';

describe('lexing settings', () => {
  const accepted: [string, string][] = [
    ['client_encoding', 'UTF8'],
    ['client_encoding', 'utf-8'],
    ['client_encoding', 'Unicode'],
    ['client_encoding', 'SQL_ASCII'],
    ['standard_conforming_strings', 'on'],
    ['standard_conforming_strings', 'TRUE'],
    ['standard_conforming_strings', 'y'],
    ['backslash_quote', 'safe_encoding'],
    ['backslash_quote', 'off'],
    ['application_name', 'anything'],
  ];
  for (const [name, value] of accepted) it(`accepts ${name}=${value} at startup`, () => assert.equal(startupLexingRefusal(name, value), undefined));

  const refused: [string, string][] = [
    ...['SJIS', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB', 'EUC_JP', 'LATIN1', 'auto', ''].map((e): [string, string] => ['client_encoding', e]),
    ['standard_conforming_strings', 'off'],
    ['standard_conforming_strings', ''],
    ['backslash_quote', 'on'],
  ];
  for (const [name, value] of refused) it(`refuses ${name}=${value} at startup`, () => assert.match(startupLexingRefusal(name, value) ?? '', new RegExp(name)));

  it('notices a server that left a pinned value', () => {
    assert.equal(pinnedSettingDrift('client_encoding', 'UTF8'), undefined);
    assert.equal(pinnedSettingDrift('standard_conforming_strings', 'on'), undefined);
    assert.equal(pinnedSettingDrift('TimeZone', 'UTC'), undefined);
    for (const v of ['SJIS', 'BIG5', 'LATIN1']) assert.match(pinnedSettingDrift('client_encoding', v, 'UTF8') ?? '', /pinned to UTF8/);
  });

  it('takes SQL_ASCII only over a UTF8 database (the server then reads the bytes as UTF-8)', () => {
    assert.equal(pinnedSettingDrift('client_encoding', 'SQL_ASCII', 'UTF8'), undefined);
    assert.equal(pinnedSettingDrift('client_encoding', 'sql-ascii', 'utf8'), undefined);
    assert.match(pinnedSettingDrift('client_encoding', 'SQL_ASCII', 'LATIN1') ?? '', /only in a UTF8 database, and this one's encoding is LATIN1/);
    assert.match(pinnedSettingDrift('client_encoding', 'SQL_ASCII', 'SQL_ASCII') ?? '', /this one's encoding is SQL_ASCII/);
    assert.match(pinnedSettingDrift('client_encoding', 'SQL_ASCII') ?? '', /encoding is unknown/);
    assert.match(pinnedSettingDrift('standard_conforming_strings', 'off') ?? '', /pinned to on/);
  });
});
