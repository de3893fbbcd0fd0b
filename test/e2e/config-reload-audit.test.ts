/**
 * A configuration reload that weakens what the gateway enforces leaves a record of exactly what
 * changed: the `config_reload` audit event lists each changed key with its value before and after
 * (a widened policy, a removed masking rule, a raised limit, an added issuer), and a secret that
 * changed is named without its value — in the store and in the streamed sink alike.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type GatewayConfig } from '../../src/config/schema.ts';
import { openAuditStore } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

const OLD_KEY = 'mask-key-old-0123456789abcdef';
const NEW_KEY = 'mask-key-new-fedcba9876543210';

let t: TestGateway;
let dir: string;
let raw: Record<string, any>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-reload-audit-'));
  t = await startTestGateway({
    config: (r) => {
      r.policies = [{ name: 'readers', match: { groups: ['readers'] }, allow: [{ tables: ['public.orders'], operations: ['select'] }] }];
      r.masking = { hash_key: OLD_KEY, rules: [{ column: 'public.customers.email', with: 'hash' }] };
      r.audit = { store: `sqlite:${join(dir, 'audit.db')}`, sinks: [{ jsonl: join(dir, 'audit.jsonl') }] };
      r.limits = { max_connections: 100 };
      raw = structuredClone(r);
    },
  });
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a reload that weakens the configuration', () => {
  it('records each changed key, with values for settings and without them for secrets', async () => {
    const next = structuredClone(raw);
    next.policies[0].allow[0].tables = ['*.*'];
    next.policies[0].allow[0].operations = 'all';
    next.masking = { hash_key: NEW_KEY, rules: [] };
    next.limits = { max_connections: 100_000 };
    next.identity.issuers.push({ issuer: 'https://second-idp.example.com', audience: 'pgwarden' });
    next.admin = { groups: ['pgwarden-admins'], issuers: [t.issuer.issuer] };
    t.gw.reload(configSchema.parse(next) as GatewayConfig);

    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
    try {
      const event = await waitFor('the config_reload event', async () => (await store.search({ types: ['event'] })).find((r) => (JSON.parse(r.body) as { data: { kind: string } }).data.kind === 'config_reload'));
      const details = (JSON.parse(event.body) as { data: { details: unknown } }).data.details as { changes: { key: string; before?: unknown; after?: unknown; secret?: boolean }[]; security: string[] };
      const byKey = new Map(details.changes.map((c) => [c.key, c]));
      assert.deepEqual(byKey.get('policies[0].allow[0].tables'), { key: 'policies[0].allow[0].tables', before: ['public.orders'], after: ['*.*'] });
      assert.deepEqual(byKey.get('policies[0].allow[0].operations'), { key: 'policies[0].allow[0].operations', before: ['select'], after: 'all' });
      assert.deepEqual(byKey.get('masking.rules[0]')?.before, { column: 'public.customers.email', with: 'hash', filter: 'equality' });
      assert.deepEqual(byKey.get('masking.hash_key'), { key: 'masking.hash_key', before: '(secret)', after: '(secret)', secret: true });
      assert.deepEqual(byKey.get('limits.max_connections'), { key: 'limits.max_connections', before: 100, after: 100_000 });
      assert.equal((byKey.get('identity.issuers[1]')?.after as { issuer: string }).issuer, 'https://second-idp.example.com');
      for (const s of ['identity', 'admin', 'policies', 'masking', 'limits']) assert.ok(details.security.includes(s), `${s} in ${details.security.join(', ')}`);

      // Neither key is anywhere in the record as stored or as streamed.
      assert.ok(!JSON.stringify(event).includes('mask-key'));
      await waitFor('the sink line', () => readFileSync(join(dir, 'audit.jsonl'), 'utf8').includes('config_reload') || undefined);
      const sink = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
      assert.ok(!sink.includes(OLD_KEY) && !sink.includes(NEW_KEY), 'no masking key in the sink');
      assert.ok(!sink.includes(t.upstreamPassword), 'no upstream password in the sink');
    } finally {
      await store.close();
    }
  });
});
