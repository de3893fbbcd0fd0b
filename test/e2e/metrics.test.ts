/**
 * Prometheus metrics at /metrics: the counters move by exactly the statements, sessions,
 * refusals and masked results that happened (checked against what the clients did and against
 * the audit log), the gauges follow what is open, the scrape needs the bearer token when one is
 * set, a metrics listener of its own serves only /metrics behind the Host check, and the Grafana
 * dashboard in deploy/ uses only metrics the gateway serves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import pg from 'pg';
import { allowEverything, connectRefusal, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pgbench } from '../helpers/clients.ts';
import { freePort } from '../helpers/postgres.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openAuditStore } from '../../src/store/index.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestGateway;
let dir: string;
const SECRET = 'scrape-secret-0123456789abcdef';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-metrics-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` };
      raw.policies = [
        allowEverything(raw.identity.issuers.map((i: { issuer: string }) => i.issuer)),
        {
          name: 'no-secrets',
          match: { subjects: ['intruder'] },
          allow: [{ tables: ['public.pgbench_*', 'public.people'], operations: ['select'] }],
          deny: [{ tables: ['public.vault'] }],
        },
      ];
      raw.masking = { rules: [{ column: 'public.people.email', with: 'email' }] };
      raw.metrics = { bearer_token: SECRET, stage_timings: true };
    },
  });
  t.pg.psql("create table people (id int primary key, email text); insert into people values (1, 'ann@example.com'), (2, 'bob@example.com')", 'app');
  t.pg.psql('create table vault (secret text)', 'app');
  t.pg.psql('grant all on people, vault to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { Host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Samples = Map<string, number>;

/** The exposition text as `name{labels}` → value (labels in the order the gateway prints them). */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

async function scrape(): Promise<Samples> {
  const r = await get(t.gw.http.port, '/metrics', { Authorization: `Bearer ${SECRET}` });
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  return parse(r.body);
}

const value = (s: Samples, key: string) => s.get(key) ?? 0;
const delta = (a: Samples, b: Samples, key: string) => value(b, key) - value(a, key);
const issuerName = () => t.issuer.issuer;

describe('/metrics', () => {
  it('is refused without the bearer token, and with a wrong one', async () => {
    const none = await get(t.gw.http.port, '/metrics');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.doesNotMatch(none.body, /pgwarden_statements_total/);
    const wrong = await get(t.gw.http.port, '/metrics', { Authorization: 'Bearer not-the-secret-at-all' });
    assert.equal(wrong.status, 401);
    // The Host check applies as on every surface.
    const rebound = await get(t.gw.http.port, '/metrics', { Authorization: `Bearer ${SECRET}`, Host: 'attacker.example' });
    assert.equal(rebound.status, 421);
  });

  it('counts each statement by decision and rule, exactly', async () => {
    const token = await t.issuer.sign({ sub: 'intruder' });
    const c = new pg.Client(t.client(token));
    const a = await scrape();
    await c.connect();
    for (let i = 0; i < 5; i++) await c.query('select id from people where id = $1', [i]);
    await c.query('select 1');
    for (let i = 0; i < 3; i++) await assert.rejects(c.query('select secret from vault'), /vault/);
    await c.end();
    const b = await scrape();
    assert.equal(delta(a, b, 'pgwarden_statements_total{decision="allow",rule=""}'), 6);
    const denied = [...b.keys()].filter((k) => k.startsWith('pgwarden_statements_total{decision="deny"'));
    assert.equal(
      denied.reduce((n, k) => n + delta(a, b, k), 0),
      3,
      `deny counters: ${denied.join(', ')}`,
    );
    assert.ok(denied.some((k) => /rule="[^"]+"/.test(k) && delta(a, b, k) === 3), `the refusals carry the rule: ${denied.join(', ')}`);
    assert.equal(delta(a, b, 'pgwarden_connections_opened_total{transport="wire"}'), 1);
    // Every decided statement (the six allowed, the three refused) is timed in the decide stage.
    assert.equal(delta(a, b, 'pgwarden_stage_seconds_count{stage="decide"}'), 9);
    assert.ok(delta(a, b, 'pgwarden_stage_seconds_sum{stage="decide"}') > 0);
    assert.equal(delta(a, b, `pgwarden_token_verifications_total{issuer="${issuerName()}",result="ok"}`), 1);
  });

  it('counts masked results and refused connections by reason', async () => {
    const a = await scrape();
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'reader' })));
    await c.connect();
    const r = await c.query('select email from people order by id');
    assert.notEqual(r.rows[0].email, 'ann@example.com');
    await c.query('select id from people');
    await c.end();
    const bad = await connectRefusal(t, 'not-a-token');
    assert.equal(bad.code, '28P01');
    const b = await scrape();
    assert.equal(delta(a, b, 'pgwarden_results_masked_total'), 1);
    assert.equal(delta(a, b, 'pgwarden_connections_refused_total{reason="auth.invalid_token"}'), 1);
    assert.equal(delta(a, b, 'pgwarden_token_verifications_total{issuer="untrusted",result="auth.invalid_token"}'), 1);
  });

  it('follows a pgbench run: statements match the audit log, sessions the clients', async () => {
    const env = { PGPASSWORD: await t.issuer.sign({ sub: 'bench', exp: Math.floor(Date.now() / 1000) + 3600 }) };
    const conn = ['-h', '127.0.0.1', '-p', String(t.port), '-U', 'agent'];
    const init = await pgbench(['-i', '-s', '1', '-q', ...conn, 'app'], env);
    assert.equal(init.code, 0, init.stderr);
    const a = await scrape();
    const auditBefore = await allowedInAudit(0);
    const r = await pgbench(['-S', '-M', 'prepared', '-c', '3', '-j', '1', '-t', '40', '-n', ...conn, 'app'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const b = await scrape();
    const statements = delta(a, b, 'pgwarden_statements_total{decision="allow",rule=""}');
    // 120 transactions of one statement each, and whatever pgbench asks on its own (the scale):
    // exactly the statements the audit log recorded as forwarded.
    assert.ok(statements >= 120, `allowed statements: ${statements}`);
    assert.equal(await allowedInAudit(auditBefore + statements) - auditBefore, statements);
    const opened = delta(a, b, 'pgwarden_connections_opened_total{transport="wire"}');
    assert.ok(opened >= 3 && opened <= 4, `sessions opened: ${opened}`);
    assert.equal(value(b, 'pgwarden_connections_open{state="active"}'), 0);
  });

  it('shows open connections and upstream sessions while they are open', async () => {
    // Sessions of earlier tests give their server connections back after the client has gone
    // (the pool resets a connection before it is idle): count from none.
    await waitFor('earlier sessions to give their server connections back', async () => value(await scrape(), 'pgwarden_upstream_sessions{upstream="app"}') === 0);
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'holder' })));
    await c.connect();
    try {
      const s = await scrape();
      assert.equal(value(s, 'pgwarden_connections_open{state="active"}'), 1);
      assert.equal(value(s, 'pgwarden_upstream_sessions{upstream="app"}'), 1);
      assert.equal(value(s, 'pgwarden_audit_writable'), 1);
      assert.equal(value(s, 'pgwarden_audit_index_healthy'), 1);
      assert.ok(s.has('pgwarden_audit_index_lag_records'));
      assert.equal(value(s, 'pgwarden_reviews_pending'), 0);
      // The first token of the run made the gateway fetch the issuer's keys.
      assert.ok(value(s, `pgwarden_jwks_fetches_total{issuer="${issuerName()}",result="ok"}`) >= 1);
      assert.ok(value(s, 'pgwarden_resident_memory_bytes') > 0 || value(s, 'pgwarden_process_resident_memory_bytes') > 0);
    } finally {
      await c.end();
    }
  });

  it('keeps label sets bounded: no subject label unless asked for', async () => {
    const text = (await get(t.gw.http.port, '/metrics', { Authorization: `Bearer ${SECRET}` })).body;
    assert.doesNotMatch(text, /subject="/);
    assert.doesNotMatch(text, /intruder|reader|holder/);
  });

  it('the Grafana dashboard uses only metrics the gateway serves', async () => {
    const text = (await get(t.gw.http.port, '/metrics', { Authorization: `Bearer ${SECRET}` })).body;
    const families = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap((m) => (m[2] === 'histogram' ? [`${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`] : [m[1]])));
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/pgwarden-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query?: unknown }[] };
    };
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((x) => ({ where: p.title, expr: x.expr }))), ...dashboard.templating.list.filter((v) => typeof v.query === 'string' && String(v.query).includes('pgwarden_')).map((v) => ({ where: 'templating', expr: String(v.query) }))];
    assert.ok(exprs.length >= 10);
    for (const { where, expr } of exprs) {
      const names = [...expr.matchAll(/\b(pgwarden_[a-z0-9_]+)/g)].map((m) => m[1]);
      assert.ok(names.length > 0, `${where}: ${expr} names no pgwarden metric`);
      for (const n of names) assert.ok(families.has(n), `${where}: ${n} is not served at /metrics`);
    }
  });
});

describe('a metrics listener of its own', () => {
  it('serves only /metrics, checks Host, and needs no token on loopback', async () => {
    const port = await freePort();
    const own = await startTestGateway({ pg: t.pg, issuer: t.issuer, config: (raw) => (raw.metrics = { listen: `127.0.0.1:${port}` }) });
    try {
      assert.equal(own.gw.metrics?.port, port);
      const ok = await get(port, '/metrics');
      assert.equal(ok.status, 200);
      assert.match(ok.body, /pgwarden_statements_total/);
      assert.equal((await get(port, '/console/')).status, 404);
      assert.equal((await get(port, '/metrics', { Host: 'rebound.example' })).status, 421);
      // Not on the main HTTP listener any more.
      assert.equal((await get(own.gw.http.port, '/metrics')).status, 404);
    } finally {
      await own.gw.close(0);
      t.pg.psql(`alter role gw_app password '${t.upstreamPassword}'`);
    }
  });

  it('is not served off loopback without a bearer token', async () => {
    const port = await freePort();
    const wide = await startTestGateway({
      pg: t.pg,
      issuer: t.issuer,
      config: (raw) => {
        raw.listen.http = `0.0.0.0:${port}`;
        raw.listen.allow_insecure_remote = true;
        raw.mcp = { enabled: false };
      },
    });
    try {
      assert.equal((await get(port, '/metrics')).status, 404);
    } finally {
      await wide.gw.close(0);
      t.pg.psql(`alter role gw_app password '${t.upstreamPassword}'`);
    }
    const metricsPort = await freePort();
    await assert.rejects(
      startTestGateway({ pg: t.pg, issuer: t.issuer, config: (raw) => (raw.metrics = { enabled: true, listen: `0.0.0.0:${metricsPort}` }) }),
      /metrics\.bearer_token/,
    );
    t.pg.psql(`alter role gw_app password '${t.upstreamPassword}'`);
  });

  it('refuses to serve metrics off loopback without a bearer token', async () => {
    const base = {
      upstreams: { app: { url: 'postgres://gw_app@127.0.0.1:5432/app' } },
      identity: { issuers: [{ issuer: 'https://idp.example', audience: 'pgwarden' }] },
    };
    assert.throws(() => parseConfig(JSON.stringify({ ...base, metrics: { enabled: true, listen: '0.0.0.0:9187' } }), 'pgwarden.yaml'), /metrics\.bearer_token/);
    assert.throws(() => parseConfig(JSON.stringify({ ...base, listen: { http: '0.0.0.0:8080', allow_insecure_remote: true }, mcp: { enabled: false }, metrics: { enabled: true } }), 'pgwarden.yaml'), /metrics\.bearer_token/);
    assert.equal(parseConfig(JSON.stringify({ ...base, metrics: { listen: '0.0.0.0:9187', bearer_token: SECRET } }), 'pgwarden.yaml').metrics.bearer_token, SECRET);
    assert.equal(parseConfig(JSON.stringify({ ...base, metrics: { listen: '0.0.0.0:9187', enabled: false } }), 'pgwarden.yaml').metrics.enabled, false);
  });
});

/** Statements the audit log recorded as forwarded (verdict allow), once at least `atLeast` are there. */
async function allowedInAudit(atLeast: number): Promise<number> {
  const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir, readOnly: true });
  try {
    return await waitFor('the audit records', async () => {
      const n = (await store.search({ decision: 'allow', types: ['statement'], limit: 1_000_000 })).length;
      return n >= atLeast ? n : null;
    });
  } finally {
    await store.close();
  }
}
