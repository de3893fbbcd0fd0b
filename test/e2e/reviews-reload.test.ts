/**
 * A config reload (what SIGHUP applies) changes the review webhooks: after a reload that points
 * the webhook at another receiver, a new review is delivered there and no longer to the old one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { GatewayConfig } from '../../src/config/schema.ts';
import { webhookSchema } from '../../src/review/schema.ts';
import { startJsonServer, type JsonServer } from '../helpers/oidc.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'webhook-secret-0123456789';
let t: TestGateway;
let receiver: JsonServer;

before(async () => {
  receiver = await startJsonServer({ '/old': {}, '/new': {}, '/third': {} });
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [{ name: 'migrations', match: { groups: ['deferrers'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
      raw.reviews = {
        store: 'memory',
        rules: [{ name: 'drops', when: ['drop'], match: { groups: ['deferrers'] }, approvers: { groups: ['dba'] }, mode: 'defer' }],
        webhooks: [{ url: `${receiver.url}/old`, secret: SECRET, events: ['created'] }],
      };
    },
  });
  t.pg.psql('create table a (id int); create table b (id int); create table c (id int); alter table a owner to gw_app; alter table b owner to gw_app; alter table c owner to gw_app;', 'app');
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
  await receiver?.stop();
});

async function requestReview(table: string): Promise<void> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'deferrer', groups: ['deferrers'] })));
  await c.connect();
  try {
    await assert.rejects(c.query(`DROP TABLE ${table}`), (e: any) => e.code === '42501' && /review \S+ was requested/.test(e.message));
  } finally {
    await c.end();
  }
}

function withWebhooks(urls: string[]): GatewayConfig {
  return { ...t.config, reviews: { ...t.config.reviews, webhooks: urls.map((url) => webhookSchema.parse({ url, secret: SECRET, events: ['created'] })) } };
}

describe('a config reload applies to review webhooks', () => {
  it('delivers to the webhook of the reloaded config, and no longer to the old one', async () => {
    await requestReview('a');
    await waitFor('the delivery to the configured webhook', () => receiver.hits('/old') === 1 || undefined, 5000);

    t.gw.reload(withWebhooks([`${receiver.url}/new`]));
    await requestReview('b');
    await waitFor('the delivery to the reloaded webhook', () => receiver.hits('/new') === 1 || undefined, 5000);
    assert.equal(receiver.hits('/old'), 1, 'the old webhook gets nothing more');

    // Deliveries of one event start together: once the reloaded one arrived, one to a webhook
    // no longer configured would have too.
    t.gw.reload(withWebhooks([`${receiver.url}/third`]));
    await requestReview('c');
    await waitFor('the delivery to the webhook of the second reload', () => receiver.hits('/third') === 1 || undefined, 5000);
    assert.equal(receiver.hits('/new'), 1, 'the replaced webhook gets nothing more');
    assert.equal(receiver.hits('/old'), 1);
  });
});
