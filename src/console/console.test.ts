/** The console's pure pieces: escaping, signed cookies, where a sign-in may return to, time filters, roles. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { html, query, raw } from './html.ts';
import { safeNext } from './auth.ts';
import { rolesFor } from './roles.ts';
import { parseTime } from './sessions-page.ts';
import { sign, verify } from './signed-cookie.ts';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const later = () => Math.floor(Date.now() / 1000) + 60;

describe('html escapes what it interpolates', () => {
  const cases: [string, unknown, string][] = [
    ['markup in text', '<script>alert(1)</script>', '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>'],
    ['quotes that would end an attribute', `" onmouseover="x' `, '<p>&quot; onmouseover=&quot;x&#39; </p>'],
    ['ampersands', 'a && b', '<p>a &amp;&amp; b</p>'],
    ['nested html stays as it is', html`<b>${'<i>'}</b>`, '<p><b>&lt;i&gt;</b></p>'],
    ['arrays are joined, each escaped', ['<a>', html`<br>`], '<p>&lt;a&gt;<br></p>'],
    ['null, undefined and false render as nothing', [null, undefined, false], '<p></p>'],
    ['numbers', 42, '<p>42</p>'],
    ['raw is trusted text', raw('<hr>'), '<p><hr></p>'],
  ];
  for (const [name, value, want] of cases) it(name, () => assert.equal(html`<p>${value as string}</p>`.text, want));
  it('query keeps only non-empty values, encoded', () => assert.equal(query({ a: 'x y', b: '', c: undefined, d: 3 }), '?a=x+y&d=3'));
});

describe('signed cookies', () => {
  it('a value verifies with its secret and purpose', () => {
    const v = sign(SECRET, 'session', { exp: later(), sub: 'alice' });
    assert.equal(verify<{ exp: number; sub: string }>(SECRET, 'session', v)?.sub, 'alice');
  });
  const refused: [string, (v: string) => string | undefined, 'session' | 'signin', string?][] = [
    ['an edited payload', (v) => `${Buffer.from(JSON.stringify({ exp: later(), sub: 'admin' })).toString('base64url')}.${v.split('.')[1]}`, 'session'],
    ['a changed signature', (v) => `${v.slice(0, -2)}${v.endsWith('AA') ? 'BB' : 'AA'}`, 'session'],
    ['the other purpose', (v) => v, 'signin'],
    ['another secret', (v) => v, 'session', 'another-secret-of-at-least-thirty-two-chars'],
    ['no signature', (v) => v.split('.')[0], 'session'],
    ['two dots', (v) => `${v}.x`, 'session'],
    ['an empty value', () => '', 'session'],
    ['no value', () => undefined, 'session'],
  ];
  for (const [name, change, purpose, secret] of refused) {
    it(`refuses ${name}`, () => {
      const v = sign(SECRET, 'session', { exp: later(), sub: 'alice' });
      assert.equal(verify(secret ?? SECRET, purpose, change(v)), null);
    });
  }
  it('refuses an expired value', () => {
    const v = sign(SECRET, 'session', { exp: Math.floor(Date.now() / 1000) - 1 });
    assert.equal(verify(SECRET, 'session', v), null);
  });
});

describe('where a sign-in may return to', () => {
  const cases: [string | undefined, string][] = [
    ['/console/sessions?identity=a', '/console/sessions?identity=a'],
    ['/console', '/console'],
    ['/console?x=1', '/console?x=1'],
    [undefined, '/console'],
    ['https://evil.example/console', '/console'],
    ['//evil.example/console', '/console'],
    ['/console//evil.example', '/console'],
    ['/consolex', '/console'],
    ['/console/\\evil', '/console'],
    ['/admin/revocations', '/console'],
  ];
  for (const [next, want] of cases) it(`${String(next)} → ${want}`, () => assert.equal(safeNext(next), want));
});

describe('time filters', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  const cases: [string, number | undefined][] = [
    ['', undefined],
    ['2h', now - 7_200_000],
    ['15m', now - 900_000],
    ['7d', now - 7 * 86_400_000],
    ['2025-01-02 10:00', Date.parse('2025-01-02T10:00:00Z')],
    ['2025-01-02T10:00:00+02:00', Date.parse('2025-01-02T08:00:00Z')],
    ['2025-01-02', Date.parse('2025-01-02T00:00:00Z')],
  ];
  for (const [text, want] of cases) it(`${JSON.stringify(text)}`, () => assert.equal(parseTime(text, now), want));
  it('anything else is not a time', () => assert.ok(Number.isNaN(parseTime('yesterday', now)), 'NaN for text that is not a time'));
});

describe('roles from groups', () => {
  const roles = { auditor: ['auditors'], approver: ['dba'], admin: ['root'] };
  const cases: [string[], string[]][] = [
    [['auditors'], ['auditor']],
    [['dba', 'auditors'], ['auditor', 'approver']],
    [['root'], ['auditor', 'approver', 'admin']],
    [['staff'], []],
    [[], []],
  ];
  for (const [groups, want] of cases) it(`${groups.join(',') || 'no groups'} → ${want.join(',') || 'none'}`, () => assert.deepEqual([...rolesFor(groups, roles)].sort(), [...want].sort()));
});
