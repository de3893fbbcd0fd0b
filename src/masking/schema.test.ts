import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../config/index.ts';
import { maskingSchema } from './schema.ts';

/** Issues of an invalid section as `path: message`. */
function issues(input: unknown): string[] {
  const r = maskingSchema.safeParse(input);
  assert.equal(r.success, false, 'expected the masking section to be rejected');
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const KEY = 'k'.repeat(32);

describe('maskingSchema accepts', () => {
  it('the full shape, filling defaults', () => {
    const m = maskingSchema.parse({
      hash_key: KEY,
      rules: [
        { column: 'public.customers.email', with: 'email', options: { keep_first: 1 }, except: { groups: ['support'] } },
        { column: '*.*.ssn', with: 'hash', options: { length: 12, encoding: 'base64' }, filter: 'deny' },
        { column: 'public."Mixed".card', with: 'partial', options: { keep_first: 1, keep_last: 4, text: '****' }, only: { subjects: ['analyst'] } },
        { column: 'public.customers.phone', with: 'phone', options: { keep_last: 4 }, filter: 'allow' },
        { column: 'public.customers.birth', with: 'fake' },
      ],
      detect: { kinds: ['email', 'iban'], with: 'redact', options: { text: '[pii]' }, except: { issuers: ['corp'] } },
    });
    assert.equal(m.rules[0].filter, 'equality', 'filter defaults to equality');
    assert.equal(m.rules[1].filter, 'deny');
  });
  it('a bare list of rules', () => {
    assert.deepEqual(maskingSchema.parse([{ column: 'public.customers.email', with: 'email' }]), { rules: [{ column: 'public.customers.email', with: 'email', filter: 'equality' }] });
  });
  it('detect with every kind by default', () => {
    assert.equal(maskingSchema.parse({ detect: {} }).detect?.kinds.length, 6);
  });
});

describe('maskingSchema rejects', () => {
  const cases: [string, unknown, string][] = [
    ['a two-part column', { rules: [{ column: 'customers.email', with: 'email' }] }, 'rules.0.column: expected schema.table.column'],
    ['an unknown masker', { rules: [{ column: 'a.b.c', with: 'scramble' }] }, 'rules.0.with'],
    ['an option of another masker', { rules: [{ column: 'a.b.c', with: 'email', options: { keep_last: 2 } }] }, 'rules.0.options.keep_last: is not an option of the email masker (it takes keep_first, keep_domain, text)'],
    ['options on null', { rules: [{ column: 'a.b.c', with: 'null', options: { text: 'x' } }] }, 'rules.0.options.text: the null masker takes no options'],
    ['a phone keeping more than 4 digits', { rules: [{ column: 'a.b.c', with: 'phone', options: { keep_last: 6 } }] }, 'rules.0.options.keep_last: must be at most 4'],
    ['hash without a key', { rules: [{ column: 'a.b.c', with: 'hash' }] }, 'rules.0.with: hash needs masking.hash_key'],
    ['fake without a key', { rules: [{ column: 'a.b.c', with: 'fake' }] }, 'rules.0.with: fake needs masking.hash_key'],
    ['detect with hash without a key', { detect: { with: 'hash' } }, 'detect.with: hash needs masking.hash_key'],
    ['a short key', { hash_key: 'short', rules: [] }, 'hash_key'],
    ['an except naming nobody', { rules: [{ column: 'a.b.c', with: 'redact', except: {} }] }, 'rules.0.except: must name subjects, groups or issuers'],
    ['an unknown filter mode', { rules: [{ column: 'a.b.c', with: 'redact', filter: 'prefix' }] }, 'rules.0.filter'],
    ['an unknown key', { rules: [{ column: 'a.b.c', with: 'redact', mask: 'x' }] }, 'rules.0'],
    ['an unknown detector', { detect: { kinds: ['passport'] } }, 'detect.kinds.0'],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      const got = issues(input);
      assert.ok(got.some((g) => g.startsWith(want)), `expected an issue starting with "${want}", got ${JSON.stringify(got)}`);
    });
  }
  it('never echoes the hash key', () => {
    assert.ok(!issues({ hash_key: 'tiny-secret' }).some((i) => i.includes('tiny-secret')), 'the key must not appear in a message');
  });
});

describe('pgwarden.yaml masking section', () => {
  const BASE = ['upstreams:', '  app:', '    url: postgres://pgwarden@db:5432/app', 'identity:', '  issuers:', '    - issuer: https://idp.example.com', '      audience: pgwarden'];
  it('reads the key from the environment', () => {
    const c = parseConfig([...BASE, 'masking:', '  hash_key: ${env:PGWARDEN_MASK_KEY}', '  rules:', '    - { column: "*.*.ssn", with: hash }'].join('\n'), 'pgwarden.yaml', { PGWARDEN_MASK_KEY: KEY });
    assert.equal(c.masking?.hash_key, KEY);
    assert.equal(c.masking?.rules[0].with, 'hash');
  });
  it('reports a problem at its line', () => {
    try {
      parseConfig([...BASE, 'masking:', '  rules:', '    - { column: customers.ssn, with: redact }'].join('\n'), 'pgwarden.yaml', {});
      assert.fail('expected the config to be rejected');
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.match(err.message, /pgwarden\.yaml:10 masking\.rules\[0\]\.column: expected schema\.table\.column/);
    }
  });
  it('is optional', () => assert.equal(parseConfig(BASE.join('\n'), 'pgwarden.yaml', {}).masking, undefined));
});
