/**
 * settingOnlyParams: a parameter of no declared type is text where its one use is
 * current_setting's first argument; anywhere else, the server may give it another type.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadParser } from './parser.ts';
import { settingOnlyParams } from './param-uses.ts';

before(async () => {
  await loadParser();
});

describe('settingOnlyParams', () => {
  const cases: [string, string, number[]][] = [
    ['one read', 'SELECT current_setting($1)', [1]],
    ['two reads, with missing_ok', 'SELECT current_setting($1), pg_catalog.current_setting($2, true)', [1, 2]],
    ['the same parameter read twice', 'SELECT current_setting($1) AS a, current_setting($1, true) AS b', [1]],
    ['comments between the tokens', 'SELECT current_setting /* c */ ( -- x\n $1 )', [1]],
    ['quoted as written in the catalog', 'SELECT "current_setting"($1)', [1]],
    ['also compared elsewhere', "SELECT current_setting($1) WHERE $1 <> 'x'", []],
    ['also a column filter', 'SELECT current_setting($1) FROM orders WHERE status = $1', []],
    ['inside an expression', "SELECT current_setting($1 || '')", []],
    ['a cast of it', 'SELECT current_setting($1::text)', []],
    ['a named argument', 'SELECT current_setting(setting_name => $1)', []],
    ['another schema', 'SELECT public.current_setting($1)', []],
    ['a quoted name of another case', 'SELECT "Current_Setting"($1)', []],
    ['in a string or a comment it is no use', "SELECT current_setting($1), '$1' /* $1 */", [1]],
  ];
  for (const [name, sql, want] of cases) test(name, () => assert.deepEqual([...settingOnlyParams(sql)].sort(), want));
});
