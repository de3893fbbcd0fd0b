/**
 * OpenTelemetry traces over OTLP/HTTP to a receiver in the test: one span per statement with its
 * decision, rule and audit record id (the same id the audit log has), refusals as error spans, the
 * pipeline stages each statement went through as its child spans (simple Query, extended
 * protocol, refusals, masked results), and nothing of the statement text, its parameters or its
 * values in anything exported.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { openAuditStore } from '../../src/store/index.ts';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values: OtlpValue[] };
}
interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status?: { code?: number };
  attributes: { key: string; value: OtlpValue }[];
}

let t: TestGateway;
let receiver: http.Server;
let dir: string;
const bodies: string[] = [];
const spans: OtlpSpan[] = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const port = (receiver.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-tracing-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` };
      raw.tracing = { otlp_endpoint: `http://127.0.0.1:${port}/v1/traces`, service_name: 'pgwarden-test' };
      raw.policies = [
        { name: 'readers', match: { subjects: ['tracer', 'stager'] }, allow: [{ tables: ['public.items', 'public.cards'], operations: ['select'] }] },
        { name: 'migrations', match: { groups: ['migrators'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] },
      ];
      raw.reviews = {
        store: `sqlite:${join(dir, 'reviews.db')}`,
        rules: [{ name: 'drops-wait', when: ['drop'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '20s' }],
      };
      raw.masking = { rules: [{ column: 'public.cards.pan', with: 'redact' }] };
    },
  });
  t.pg.psql("create table items (id int, secret_value text); insert into items values (1, 'value-in-a-row-777')", 'app');
  t.pg.psql("create table cards (id int, pan text); insert into cards select g, 'pan-in-clear-' || g from generate_series(1, 500) g", 'app');
  t.pg.psql('create table held_victim (id int)', 'app');
  t.pg.psql('grant all on items, cards, held_victim to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.doubleValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};

describe('traces', () => {
  it('one span per statement, with the decision and the audit record id; refusals are errors', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'tracer' })));
    await c.connect();
    await c.query('select id, secret_value from items where id = $1', ['param-value-4242']).catch(() => {});
    await c.query('select id from items where id = 1');
    await assert.rejects(c.query("delete from items where secret_value = 'literal-9999'"), /may not/);
    await c.end();
    const statements = await waitFor('the spans', () => {
      const s = spans.filter((x) => x.name === 'pgwarden.statement' && attr(x, 'enduser.id') === 'tracer');
      return s.length >= 3 ? s : null;
    });
    assert.equal(statements.length, 3);
    const allowed = statements.filter((s) => attr(s, 'pgwarden.decision') === 'allow');
    const denied = statements.filter((s) => attr(s, 'pgwarden.decision') === 'deny');
    assert.equal(allowed.length, 2);
    assert.equal(denied.length, 1);
    assert.equal(denied[0].status?.code, 2, 'a refusal is an error span');
    assert.ok(attr(denied[0], 'pgwarden.rule'));
    for (const s of allowed) {
      assert.equal(attr(s, 'db.namespace'), 'app');
      assert.equal(attr(s, 'db.operation.name'), 'SELECT');
    }
    // The record ids are the audit log's.
    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir, readOnly: true });
    try {
      const records = await waitFor('the audit records', async () => {
        const r = await store.search({ identity: 'tracer', types: ['statement'], decision: 'allow' });
        return r.length >= 2 ? r : null;
      });
      const ids = new Set(records.map((r) => r.id));
      for (const s of allowed) assert.ok(ids.has(String(attr(s, 'pgwarden.audit.record_id'))), `record id ${attr(s, 'pgwarden.audit.record_id')}`);
    } finally {
      await store.close();
    }
    // The first statement failed on the server (its parameter is not an integer): an error span
    // with the SQLSTATE, never the server's message (which quotes the parameter).
    const failed = allowed.filter((s) => attr(s, 'db.response.status_code') === '22P02');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].status?.code, 2);
    const ok = allowed.filter((s) => s !== failed[0]);
    assert.equal(attr(ok[0], 'db.response.returned_rows'), 1);
    // Nothing of the statements' text, parameters or values left the gateway in a span.
    const exported = bodies.join('\n');
    for (const secret of ['param-value-4242', 'value-in-a-row-777', 'literal-9999', 'secret_value', 'from items']) assert.ok(!exported.includes(secret), `${secret} was exported`);
    const resource = bodies.some((b) => b.includes('"pgwarden-test"'));
    assert.ok(resource, 'the service name is on the resource');
  });

  it('the stages each statement went through are its child spans, within it and in pipeline order', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'stager' })));
    await c.connect();
    // Simple Query; extended protocol (Parse, Bind, Describe, Execute, Sync in one round trip);
    // a refused simple Query; a refused Parse; a masked result.
    await c.query('select id from items where id = 1');
    await c.query('select id from items where id = $1', [1]);
    await assert.rejects(c.query("delete from items where secret_value = 'literal-5555'"), /may not/);
    await assert.rejects(c.query('update items set id = $1', [2]), /may not/);
    const masked = await c.query('select id, pan from cards order by id');
    await c.end();
    assert.equal(masked.rows.length, 500);
    assert.ok(!masked.rows.some((r: { pan: string }) => r.pan.includes('pan-in-clear')), 'the result was masked');

    const statements = await waitFor('the statement spans', () => {
      const s = spans.filter((x) => x.name === 'pgwarden.statement' && attr(x, 'enduser.id') === 'stager');
      return s.length >= 5 ? s : null;
    });
    assert.equal(statements.length, 5);
    const childrenOf = (parent: OtlpSpan) => spans.filter((x) => x.parentSpanId === parent.spanId);
    // Every child span is exported with its statement's (BatchSpanProcessor, one flush).
    await waitFor('the child spans', () => (statements.every((s) => childrenOf(s).length >= 3) ? true : null));

    const byKind = (message: string, decision: string) => statements.filter((s) => attr(s, 'pgwarden.message') === message && attr(s, 'pgwarden.decision') === decision);
    const [simple, maskedQuery] = byKind('query', 'allow');
    const [extended] = byKind('execute', 'allow');
    const [refused] = byKind('query', 'deny');
    const [refusedParse] = byKind('parse', 'deny');
    assert.ok(simple && maskedQuery && extended && refused && refusedParse, statements.map((s) => `${attr(s, 'pgwarden.message')}/${attr(s, 'pgwarden.decision')}`).join(' '));

    const ns = (v: string) => BigInt(v);
    /** The statement's children by stage, checked: same trace, within the parent, each stage once, named as the pipeline names it. */
    const stagesOf = (parent: OtlpSpan, expected: string[]) => {
      const children = childrenOf(parent);
      const names = children.map((c) => c.name).sort();
      assert.deepEqual(names, expected.map((e) => `pgwarden.${e}`).sort(), `${attr(parent, 'pgwarden.message')}/${attr(parent, 'pgwarden.decision')}`);
      const out = new Map<string, OtlpSpan>();
      for (const c of children) {
        assert.equal(c.traceId, parent.traceId);
        assert.ok(ns(c.startTimeUnixNano) >= ns(parent.startTimeUnixNano), `${c.name} starts within its statement`);
        assert.ok(ns(c.endTimeUnixNano) <= ns(parent.endTimeUnixNano), `${c.name} ends within its statement`);
        assert.ok(ns(c.startTimeUnixNano) <= ns(c.endTimeUnixNano), `${c.name} ends after it starts`);
        const stage = c.name.slice('pgwarden.'.length);
        assert.equal(attr(c, 'pgwarden.stage'), stage === 'result' ? 'track result' : stage);
        out.set(stage, c);
      }
      return out;
    };
    const start = (s: OtlpSpan | undefined) => ns(s!.startTimeUnixNano);
    const end = (s: OtlpSpan | undefined) => ns(s!.endTimeUnixNano);
    const busy = (s: OtlpSpan | undefined) => Number(attr(s!, 'pgwarden.stage.busy_ms'));

    for (const [parent, analysed] of [
      [simple, true],
      [maskedQuery, true],
      // pg sends the Parse in the same round trip as the Execute: its analysis counts for it.
      [extended, true],
    ] as const) {
      const st = stagesOf(parent, analysed ? ['analyse', 'decide', 'audit', 'forward', 'result'] : ['decide', 'audit', 'forward', 'result']);
      // Pipeline order: analysed and decided before the record, forwarded once it is durable,
      // the result from the first response to the outcome, which ends the statement.
      assert.ok(start(st.get('analyse')) <= end(st.get('analyse')) && end(st.get('analyse')) <= start(st.get('audit')));
      assert.ok(end(st.get('decide')) <= start(st.get('audit')));
      assert.ok(start(st.get('decide')) <= start(st.get('analyse')), 'the analysis is part of the decision');
      assert.equal(end(st.get('audit')), start(st.get('forward')), 'forwarded once the record is durable');
      assert.equal(end(st.get('forward')), start(st.get('result')), 'the result starts at the first response');
      assert.equal(end(st.get('result')), end(parent), 'the outcome ends the statement');
      assert.equal(start(parent), start(st.get('decide')), 'the statement starts when the gateway takes it up');
      for (const stage of ['analyse', 'decide', 'audit', 'result']) assert.ok(busy(st.get(stage)) >= 0, `${stage} has its busy time`);
      // Busy time is time actually spent within the span.
      const result = st.get('result')!;
      assert.ok(busy(result) * 1e6 <= Number(end(result) - start(result)) + 1000, 'busy time within the result span');
    }
    // The masked result went through result tracking and masking: that time is on its result span.
    const maskedResult = childrenOf(maskedQuery).find((c) => c.name === 'pgwarden.result')!;
    const maskMs = Number(attr(maskedResult, 'pgwarden.stage.mask_ms'));
    assert.ok(maskMs > 0, `masking time on the masked result (${maskMs})`);
    assert.ok(maskMs <= busy(maskedResult), 'masking is part of the result busy time');

    // Refusals: analysed, decided and recorded; nothing forwarded, no result.
    for (const parent of [refused, refusedParse]) {
      const st = stagesOf(parent, ['analyse', 'decide', 'audit']);
      assert.equal(parent.status?.code, 2);
      assert.ok(end(st.get('decide')) <= start(st.get('audit')));
      assert.equal(end(st.get('audit')), end(parent), 'the refusal is recorded, then its span ends');
    }
    const exported = bodies.join('\n');
    for (const secret of ['pan-in-clear', 'literal-5555', 'from items', 'from cards']) assert.ok(!exported.includes(secret), `${secret} was exported`);
  });

  it('a statement held for review has one span, its wait a review child between its decisions and its record', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'held-tracer', groups: ['migrators'] })));
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    await c.connect();
    const running = c.query('drop table held_victim');
    const notice = await waitFor('the review notice', () => notices.find((n) => /held for review/.test(n)));
    const id = /review (r-[a-z0-9]+)/.exec(notice)![1];
    // Waited a little, so the review child is visibly the wait.
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch(`http://${t.config.listen.http}/api/reviews/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.issuer.sign({ sub: 'dana', groups: ['dba'] })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'ok' }),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    await running;
    await c.end();
    const [statement] = await waitFor('the statement span', () => {
      const s = spans.filter((x) => x.name === 'pgwarden.statement' && attr(x, 'enduser.id') === 'held-tracer');
      return s.length >= 1 && spans.some((x) => x.parentSpanId === s[0].spanId && x.name === 'pgwarden.result') ? s : null;
    });
    // The held record makes no span of its own: the statement has one, decided `review`.
    assert.equal(spans.filter((x) => x.name === 'pgwarden.statement' && attr(x, 'enduser.id') === 'held-tracer').length, 1);
    assert.equal(attr(statement, 'pgwarden.decision'), 'review');
    assert.equal(attr(statement, 'pgwarden.review_id'), id);
    const children = spans.filter((x) => x.parentSpanId === statement.spanId);
    const one = (name: string) => {
      const found = children.filter((x) => x.name === `pgwarden.${name}`);
      assert.equal(found.length, 1, name);
      return found[0];
    };
    const t0 = (s: OtlpSpan) => BigInt(s.startTimeUnixNano);
    const t1 = (s: OtlpSpan) => BigInt(s.endTimeUnixNano);
    const review = one('review');
    assert.equal(attr(review, 'pgwarden.stage'), 'review');
    assert.ok(t1(review) - t0(review) >= 200_000_000n, 'the review child is the wait');
    // Decided (and analysed) before the wait and again after it: a span each side.
    const decides = children.filter((x) => x.name === 'pgwarden.decide').sort((a, b) => (t0(a) < t0(b) ? -1 : 1));
    assert.equal(decides.length, 2);
    assert.ok(t0(decides[0]) <= t0(review) && t1(review) <= t0(decides[1]), 'the wait lies between the two decisions');
    const audit = one('audit');
    assert.ok(t1(decides[1]) <= t0(audit) && t1(review) <= t0(audit));
    assert.ok(t1(audit) <= t0(one('forward')) && t1(one('forward')) <= t0(one('result')));
    for (const x of children) assert.ok(t0(x) >= t0(statement) && t1(x) <= t1(statement), `${x.name} lies within its statement`);
  });
});
