import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configDiff } from './diff.ts';

const base = {
  listen: { postgres: '0.0.0.0:6432', tls: { cert: 'c.pem', key: 'k.pem' }, require_tls: true, http_hosts: ['gw'] },
  upstreams: { app: { url: 'postgres://gw@db/app', password: 'upstream-pw-1' } },
  identity: { issuers: [{ issuer: 'https://idp', audience: 'pgwarden' }] },
  policies: [{ name: 'readers', allow: [{ tables: ['public.orders'], operations: ['select'] }] }],
  masking: { hash_key: 'mask-key-0123456789', rules: [{ column: 'public.c.ssn', with: 'redact' }] },
  reviews: { rules: [], webhooks: [{ url: 'https://hooks.slack.com/services/T0/B0/SECRETPATH', secret: 'whsec-0123456789abcdef' }] },
  console: { session_secret: 'cookie-secret-0123456789abcdef0123456789', public_url: 'https://gw.example.com' },
  limits: { max_connections: 1000 },
  audit: { store: 'postgres://auditor:audit-pw@db/audit' },
};

/** Deep copy with one change applied. */
function edit(f: (c: any) => void) {
  const c = structuredClone(base) as any;
  f(c);
  return c;
}

const SECRETS = ['upstream-pw', 'mask-key', 'SECRETPATH', 'whsec-', 'cookie-secret', 'audit-pw'];

describe('configDiff', () => {
  const cases: { name: string; after: unknown; changes: unknown[]; security: string[] }[] = [
    { name: 'nothing changed', after: base, changes: [], security: [] },
    {
      name: 'TLS no longer required',
      after: edit((c) => (c.listen.require_tls = false)),
      changes: [{ key: 'listen.require_tls', before: true, after: false }],
      security: ['listen.require_tls'],
    },
    {
      name: 'TLS removed',
      after: edit((c) => delete c.listen.tls),
      changes: [{ key: 'listen.tls', before: '(secret)', secret: true }],
      security: ['listen.tls'],
    },
    {
      name: 'an issuer added',
      after: edit((c) => c.identity.issuers.push({ issuer: 'https://other', audience: 'x' })),
      changes: [{ key: 'identity.issuers[1]', after: { issuer: 'https://other', audience: 'x' } }],
      security: ['identity'],
    },
    {
      name: 'a policy widened',
      after: edit((c) => (c.policies[0].allow[0].tables = ['*.*'])),
      changes: [{ key: 'policies[0].allow[0].tables', before: ['public.orders'], after: ['*.*'] }],
      security: ['policies'],
    },
    {
      name: 'a masking rule removed and the key rotated',
      after: edit((c) => {
        c.masking.rules = [];
        c.masking.hash_key = 'mask-key-rotated-0000';
      }),
      changes: [{ key: 'masking.hash_key', before: '(secret)', after: '(secret)', secret: true }, { key: 'masking.rules[0]', before: { column: 'public.c.ssn', with: 'redact' } }],
      security: ['masking'],
    },
    {
      name: 'a webhook URL and secret changed',
      after: edit((c) => {
        c.reviews.webhooks[0].url = 'https://hooks.slack.com/services/T0/B0/SECRETPATH2';
        c.reviews.webhooks[0].secret = 'whsec-rotated-0123456789';
      }),
      changes: [{ key: 'reviews.webhooks[0].url', before: '(secret)', after: '(secret)', secret: true }, { key: 'reviews.webhooks[0].secret', before: '(secret)', after: '(secret)', secret: true }],
      security: ['reviews'],
    },
    {
      name: 'passwords, cookie secrets and store URLs with passwords',
      after: edit((c) => {
        c.upstreams.app.password = 'upstream-pw-2';
        c.console.session_secret = 'cookie-secret-rotated-0123456789abcdef01';
        c.audit.store = 'postgres://auditor:audit-pw-2@db/audit';
      }),
      changes: [{ key: 'upstreams.app.password', before: '(secret)', after: '(secret)', secret: true }, { key: 'audit.store', before: '(secret)', after: '(secret)', secret: true }, { key: 'console.session_secret', before: '(secret)', after: '(secret)', secret: true }],
      security: ['audit', 'console'],
    },
    {
      name: 'a limit raised',
      after: edit((c) => (c.limits.max_connections = 100000)),
      changes: [{ key: 'limits.max_connections', before: 1000, after: 100000 }],
      security: ['limits'],
    },
  ];
  for (const c of cases) {
    it(`records ${c.name}`, () => {
      const d = configDiff(base, c.after);
      assert.deepEqual(d.changes.map((x) => ({ ...x })).sort((a, b) => a.key.localeCompare(b.key)), [...c.changes].sort((a: any, b: any) => a.key.localeCompare(b.key)));
      assert.deepEqual(d.security, c.security);
      const text = JSON.stringify(d);
      for (const s of SECRETS) assert.ok(!text.includes(s), `${s} is in ${text}`);
    });
  }

  it('bounds the number of changes and the length of values', () => {
    const many = { policies: Array.from({ length: 150 }, (_, i) => ({ name: `p${i}` })) };
    const d = configDiff({ policies: [] }, many);
    assert.equal(d.changes.length, 100);
    assert.equal(d.truncated, 50);
    const long = configDiff({ listen: { http_hosts: [] } }, { listen: { http_hosts: Array.from({ length: 100 }, (_, i) => `host-${i}.example.com`) } });
    assert.match(String(long.changes[0].after), /… \(\d+ characters\)$/);
  });
});
