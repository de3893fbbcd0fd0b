import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePattern, matches, splitPattern } from './pattern.ts';
import { isOn, parseSearchPath, parseTimeoutMs } from './settings.ts';

describe('parseSearchPath', () => {
  const cases: [string, string[] | undefined][] = [
    ['public', ['public']],
    ['a, b', ['a', 'b']],
    ['PUBLIC, Sales', ['public', 'sales']],
    ['"$user", public', ['$user', 'public']],
    ['"My ""Odd"" Schema"', ['My "Odd" Schema']],
    ["'a, \"B\"'", ['a', 'B']],
    ["'a', 'b'", ['a', 'b']],
    ["''", []],
    ['"a,b", c', ['a,b', 'c']],
    ['a b', undefined],
    ['"unterminated', undefined],
    ['""', undefined],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.deepEqual(parseSearchPath(input), expected));
});

describe('parseTimeoutMs', () => {
  const cases: [string, number | undefined][] = [
    ['5000', 5000],
    ["'5s'", 5000],
    ['1min', 60_000],
    ['2h', 7_200_000],
    ['1500us', 2],
    ['0', 0],
    ['-1', undefined],
    ['5 fortnights', undefined],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.equal(parseTimeoutMs(input), expected));
});

describe('isOn', () => {
  for (const v of ['on', 'ON', "'true'", 't', 'yes', 'y', '1']) it(`${v} is on`, () => assert.equal(isOn(v), true));
  for (const v of ['off', 'of', 'false', 'f', 'no', '0', '', 'o', 'maybe']) it(`${JSON.stringify(v)} is not on`, () => assert.equal(isOn(v), false));
});

describe('name patterns', () => {
  it('splits quoted parts with dots and quotes', () => {
    assert.deepEqual(splitPattern('public."a.b""c"'), [
      { text: 'public', quoted: false },
      { text: 'a.b"c', quoted: true },
    ]);
  });
  it('a quoted * is literal', () => {
    const p = compilePattern('s."*"', 2);
    assert.equal(matches(p, 's', '*'), true);
    assert.equal(matches(p, 's', 'x'), false);
  });
  it('a wildcard stays within its part', () => {
    const p = compilePattern('s.a*', 2);
    assert.equal(matches(p, 's', 'a.b'), true, 'a name may contain a dot; the part still matches');
    assert.equal(matches(p, 'sx', 'ab'), false);
  });
  it('regex characters in names are literal', () => assert.equal(matches(compilePattern('s.a+b', 2), 's', 'aab'), false));
});
