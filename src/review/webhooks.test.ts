/**
 * Review webhooks against a real local HTTP server: the signature verifies over the exact body,
 * a 500 is retried with the same delivery id, and a dead or hanging webhook never blocks a
 * request nor loses the review.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../log.ts';
import { webhookSchema, type WebhookConfig } from './schema.ts';
import { ReviewService } from './service.ts';
import { eventually, identity, requestFor, rule } from './test-support.ts';
import { signature, slackPayload } from './webhooks.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Status to answer each request with, in order; the last repeats. `hang` never answers. */
  answers: (number | 'hang')[];
  stop(): Promise<void>;
}

const receivers: Receiver[] = [];
after(async () => {
  for (const r of receivers) await r.stop();
});

async function receiver(answers: (number | 'hang')[] = [200]): Promise<Receiver> {
  const received: Received[] = [];
  const state = { answers };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const answer = state.answers[Math.min(received.length - 1, state.answers.length - 1)];
      if (answer === 'hang') return;
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const r: Receiver = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`,
    received,
    get answers() {
      return state.answers;
    },
    set answers(a) {
      state.answers = a;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  receivers.push(r);
  return r;
}

const SECRET = 'a-webhook-secret-of-some-length';
const migrator = identity('migrator', ['migrations']);
const alice = identity('alice', ['dba']);

function hook(url: string, o: Partial<WebhookConfig> = {}): WebhookConfig {
  return webhookSchema.parse({ url, secret: SECRET, ...o });
}

async function open(webhooks: WebhookConfig[], retryDelaysMs = [10, 10, 10]): Promise<ReviewService> {
  return ReviewService.open(
    { store: 'memory', webhooks },
    { logger: silentLogger(), baseDir: '.', webhookRetryDelaysMs: retryDelaysMs, reviewUrl: (id) => `http://gateway.test/console/reviews/${id}` },
  );
}

/** As a receiver checks a delivery: the HMAC over "<timestamp>.<body>", and a fresh timestamp. */
function verifies(r: Received): boolean {
  const header = String(r.headers['x-pgwarden-signature'] ?? '');
  const timestamp = Number(r.headers['x-pgwarden-timestamp']);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false;
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${r.body}`).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

test('a captured delivery replayed with another timestamp does not verify', () => {
  const body = '{"event":"review.approved"}';
  const now = Math.floor(Date.now() / 1000);
  const captured = { body, headers: { 'x-pgwarden-signature': signature(SECRET, now - 3600, body), 'x-pgwarden-timestamp': String(now - 3600) } } as unknown as Received;
  assert.equal(verifies(captured), false, 'too old');
  const restamped = { body, headers: { 'x-pgwarden-signature': signature(SECRET, now - 3600, body), 'x-pgwarden-timestamp': String(now) } } as unknown as Received;
  assert.equal(verifies(restamped), false, 'the timestamp is part of what is signed');
  const fresh = { body, headers: { 'x-pgwarden-signature': signature(SECRET, now, body), 'x-pgwarden-timestamp': String(now) } } as unknown as Received;
  assert.equal(verifies(fresh), true);
});

describe('review webhooks', () => {
  test('created, approved: JSON bodies signed with HMAC-SHA256 over the exact body', async () => {
    const rx = await receiver();
    const s = await open([hook(rx.url)]);
    const r = await s.request(requestFor('DROP TABLE orders', migrator), rule());
    await s.approve(r.id, alice, 'ok');
    await s.webhooksIdle();
    assert.equal(rx.received.length, 2);
    for (const got of rx.received) assert.equal(verifies(got), true, 'the signature verifies');
    const [created, approved] = rx.received.map((x) => JSON.parse(x.body));
    assert.equal(created.event, 'review.created');
    assert.equal(created.review.id, r.id);
    assert.equal(created.review.text, 'DROP TABLE orders');
    assert.equal(created.url, `http://gateway.test/console/reviews/${r.id}`);
    assert.equal(approved.event, 'review.approved');
    assert.equal(approved.review.approvals[0].by, 'alice');
    assert.equal(rx.received[0].headers['x-pgwarden-event'], 'review.created');
    assert.equal(rx.received[0].headers['content-type'], 'application/json');
    await s.close();
  });

  test('a tampered body does not verify', async () => {
    const rx = await receiver();
    const s = await open([hook(rx.url)]);
    await s.request(requestFor('DROP TABLE orders', migrator), rule());
    await s.webhooksIdle();
    const got = rx.received[0];
    assert.equal(verifies({ ...got, body: got.body.replace('orders', 'ordrs') }), false, 'a changed body must not verify');
    await s.close();
  });

  test('a 500 is retried, with the same delivery id, until it succeeds', async () => {
    const rx = await receiver([500, 503, 200]);
    const s = await open([hook(rx.url)]);
    await s.request(requestFor('DROP TABLE orders', migrator), rule());
    await s.webhooksIdle();
    assert.equal(rx.received.length, 3);
    assert.equal(new Set(rx.received.map((x) => x.headers['x-pgwarden-delivery'])).size, 1, 'one delivery id across attempts');
    assert.equal(new Set(rx.received.map((x) => x.body)).size, 1, 'the same body each time');
    await s.close();
  });

  test('a 400 is not retried; retries stop after the last delay', async () => {
    const bad = await receiver([400]);
    const down = await receiver([500]);
    const s = await open([hook(bad.url), hook(down.url)], [5, 5]);
    await s.request(requestFor('DROP TABLE orders', migrator), rule());
    await s.webhooksIdle();
    assert.equal(bad.received.length, 1);
    assert.equal(down.received.length, 3, 'the first attempt and two retries');
    await s.close();
  });

  test('a dead or hanging webhook never blocks a request or loses the review', async () => {
    const hanging = await receiver(['hang']);
    const dead = await receiver();
    await dead.stop();
    const s = await open([hook(hanging.url), hook(dead.url)], [60_000]);
    const started = Date.now();
    const r = await s.request(requestFor('DROP TABLE orders', migrator), rule());
    const approved = await s.approve(r.id, alice);
    assert.equal(Date.now() - started < 1000, true, 'request and approve return at once');
    assert.equal(approved.status, 'approved');
    assert.equal((await s.get(r.id))?.status, 'approved', 'the review is stored');
    await eventually(() => hanging.received.length >= 1, 5000, 'the hanging webhook to be called');
    // Closing drops the pending attempts instead of waiting for them.
    const closing = Date.now();
    await s.close();
    assert.equal(Date.now() - closing < 2000, true, 'close does not wait for a dead webhook');
  });

  test('slack format, and only the events a webhook asked for', async () => {
    const rx = await receiver();
    const s = await open([hook(rx.url, { format: 'slack', events: ['created', 'rejected'] })]);
    const r = await s.request(requestFor('DROP TABLE orders', migrator), rule({ approvers: { groups: ['dba'], count: 2 } }));
    await s.approve(r.id, alice);
    await s.reject(r.id, identity('bob', ['dba']), 'too risky <today>');
    await s.webhooksIdle();
    assert.equal(rx.received.length, 2, 'created and rejected only');
    const created = JSON.parse(rx.received[0].body) as { text: string; blocks: { type: string; text?: { text: string } }[] };
    assert.match(created.text, new RegExp(`Review ${r.id} needs approval: drop table by migrator on shop`));
    assert.equal(
      created.blocks.some((b) => b.text?.text.includes('```DROP TABLE orders```')),
      true,
      'the statement is shown as code',
    );
    assert.equal(
      created.blocks.some((b) => b.text?.text.includes(`<http://gateway.test/console/reviews/${r.id}|Open review ${r.id}>`)),
      true,
      'a link to the review',
    );
    const rejected = JSON.parse(rx.received[1].body) as { text: string; blocks: { text?: { text: string } }[] };
    assert.match(rejected.text, /rejected by bob/);
    assert.equal(
      rejected.blocks.some((b) => b.text?.text === '> too risky &lt;today&gt;'),
      true,
      'the comment, escaped for Slack',
    );
    await s.close();
  });

  test('an expiry is announced', async () => {
    const rx = await receiver();
    const s = await open([hook(rx.url, { events: ['expired'] })]);
    const r = await s.request(requestFor('DROP TABLE orders', migrator), rule({ timeout: 0.03 }));
    await eventually(() => rx.received.length === 1, 5000, 'the expired webhook');
    const body = JSON.parse(rx.received[0].body);
    assert.equal(body.event, 'review.expired');
    assert.equal(body.review.id, r.id);
    assert.equal(body.review.status, 'expired');
    await s.close();
  });

  test('an abandoned review is announced (its client left while it was held)', async () => {
    const rx = await receiver();
    const s = await open([hook(rx.url, { events: ['abandoned'] })]);
    const r = await s.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    await s.abandon(r.id);
    await eventually(() => rx.received.length === 1, 5000, 'the abandoned webhook');
    const body = JSON.parse(rx.received[0].body);
    assert.equal(body.event, 'review.abandoned');
    assert.equal(body.review.status, 'abandoned');
    assert.match(slackPayload('abandoned', body.review).text, /abandoned: migrator disconnected/);
    await s.close();
  });
});
