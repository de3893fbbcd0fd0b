/**
 * OpenTelemetry traces over OTLP/HTTP to a receiver in the test: one span per statement with its
 * decision, rule and audit record id (the same id the audit log has), refusals as error spans, and
 * nothing of the statement text, its parameters or its values in anything exported.
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
  arrayValue?: { values: OtlpValue[] };
}
interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
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
      raw.policies = [{ name: 'readers', match: { subjects: ['tracer'] }, allow: [{ tables: ['public.items'], operations: ['select'] }] }];
    },
  });
  t.pg.psql("create table items (id int, secret_value text); insert into items values (1, 'value-in-a-row-777')", 'app');
  t.pg.psql('grant all on items to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
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
});
