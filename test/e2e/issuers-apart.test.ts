/**
 * Identities are (issuer, subject). With two issuers trusted, a token from the second that carries
 * the first issuer's admin group, approver group or even the requester's own subject must not
 * administer the gateway or approve anything: performed against a real gateway, judged by effect
 * (nobody revoked, the held DROP still held and the table still there), then the first issuer's
 * approver approves and the DROP runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestGateway;
let second: TestIssuer;

before(async () => {
  second = await startTestIssuer();
  t = await startTestGateway({
    config: (raw) => {
      const first = raw.identity.issuers[0].issuer as string;
      raw.identity.issuers.push({ issuer: second.issuer, audience: second.audience, name: 'partner' });
      raw.admin = { groups: ['pgwarden-admins'], issuers: [first] };
      raw.policies = [
        { name: 'everyone', match: { issuers: [first, second.issuer] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] },
      ];
      raw.reviews = {
        store: 'memory',
        rules: [{ name: 'drops', when: ['drop'], match: { subjects: ['migrator'], issuers: [first] }, approvers: { groups: ['dba'], issuers: [first] }, mode: 'wait', timeout: '2m' }],
      };
    },
  });
  t.pg.psql('create table precious (id int); alter table precious owner to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  await second?.stop();
});

const api = (path: string, token: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${t.gw.http.port}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

describe('issuers are kept apart', () => {
  it("another issuer's admin group cannot revoke anyone", async () => {
    const impostor = await second.sign({ sub: 'root', groups: ['pgwarden-admins'] });
    const r = await api('/admin/revocations', impostor, { method: 'POST', body: JSON.stringify({ subject: 'analyst' }) });
    assert.equal(r.status, 403);
    const admin = await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'] });
    const list = (await (await api('/admin/revocations', admin)).json()) as { revocations?: unknown[] } | unknown[];
    assert.deepEqual(Array.isArray(list) ? list : list.revocations, [], 'nobody was revoked');
    // And an analyst of the first issuer still connects.
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'analyst' })));
    await c.connect();
    await c.end();
  });

  it("a token of another issuer with the requester's subject and the approver group cannot approve the held DROP", async () => {
    const migrator = new pg.Client(t.client(await t.issuer.sign({ sub: 'migrator' })));
    await migrator.connect();
    const notices: string[] = [];
    migrator.on('notice', (n) => notices.push(n.message ?? ''));
    const held = migrator.query('drop table precious').then(() => 'ran', (e: Error) => `failed: ${e.message}`);
    try {
      const id = await waitFor('the review notice', () => /\b(r-[a-z0-9]+)\b/.exec(notices.join('\n'))?.[1]);
      for (const claims of [{ sub: 'migrator', groups: ['dba'] }, { sub: 'dana', groups: ['dba'] }]) {
        const r = await api(`/api/reviews/${id}/approve`, await second.sign(claims), { method: 'POST', body: '{"comment":"looks fine"}' });
        assert.equal(r.status, 403, `${JSON.stringify(claims)}: ${await r.text()}`);
      }
      assert.equal(t.pg.psql("select to_regclass('public.precious') is not null", 'app').trim(), 't', 'the table is still there');
      assert.equal(await Promise.race([held, new Promise((r) => setTimeout(() => r('still held'), 300))]), 'still held');

      const ok = await api(`/api/reviews/${id}/approve`, await t.issuer.sign({ sub: 'dana', groups: ['dba'] }), { method: 'POST', body: '{}' });
      assert.equal(ok.status, 200, await ok.text());
      assert.equal(await held, 'ran');
    } finally {
      await migrator.end().catch(() => {});
    }
  });
});
