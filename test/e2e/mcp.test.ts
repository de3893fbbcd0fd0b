/**
 * The MCP endpoint end to end, driven by the official SDK client over Streamable HTTP against a
 * real PostgreSQL: tokens are checked as a resource server checks them (401 with the metadata
 * link), tools run through the same pipeline as the wire protocol (scope, refusal text, masking),
 * sessions are bound to their identity, and every call is in the audit log with its tool and MCP
 * session.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { openAuditStore } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

const POLICIES = [
  {
    name: 'support-agents',
    match: { groups: ['mcp-support'] },
    allow: [{ tables: ['public.customers', 'public.orders'], operations: ['select'] }],
    deny: [{ columns: ['public.customers.password_hash'] }],
    limits: { max_rows: 50 },
  },
  { name: 'ops-agents', match: { groups: ['mcp-ops'] }, allow: [{ tables: ['public.scratch'], operations: 'all' }] },
];

let t: TestGateway;
let dir: string;
let base: string;
let resource: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-mcp-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = POLICIES;
      raw.masking = {
        rules: [
          { column: 'public.customers.email', with: 'email' },
          { column: 'public.customers.ssn', with: 'redact' },
        ],
      };
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}`, instance: 'gw-mcp' };
      raw.mcp = { max_rows: 20 };
      raw.reviews = {
        store: 'memory',
        rules: [{ name: 'mass-delete', when: ['delete_without_where'], match: { groups: ['mcp-ops'] }, approvers: { groups: ['dba'] }, mode: 'defer', timeout: '1m', window: '1h' }],
      };
    },
  });
  base = `http://${t.gw.http.host}:${t.gw.http.port}`;
  resource = `${base}/mcp`;
  t.pg.psql(
    `create table customers (id int primary key, name text not null, email text, ssn text, password_hash text);
     comment on table customers is 'people who buy things';
     create table orders (id int primary key, customer_id int, total numeric);
     create table secrets (id int, value text);
     insert into customers select g, 'name ' || g, 'person' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0'), 'hash' || g from generate_series(1, 30) g;
     insert into orders select g, g % 30 + 1, g * 3 from generate_series(1, 60) g;
     insert into secrets values (1, 'the launch codes');
     create table scratch (id int); insert into scratch values (1), (2);
     alter table customers owner to gw_app; alter table orders owner to gw_app; alter table secrets owner to gw_app; alter table scratch owner to gw_app;`,
    'app',
  );
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const mcpToken = (sub = 'support-bot', claims: Record<string, unknown> = {}) => t.issuer.sign({ sub, groups: ['mcp-support'], aud: ['pgwarden', resource], ...claims });

async function connect(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text;
const json = (r: unknown) => {
  assert.notEqual((r as CallToolResult).isError, true, `tool error: ${text(r)}`);
  return JSON.parse(text(r));
};

function initializeBody(): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
}

async function rawInitialize(token?: string): Promise<Response> {
  return fetch(resource, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(token !== undefined && { Authorization: `Bearer ${token}` }),
    },
    body: initializeBody(),
  });
}

describe('authorization as an OAuth resource server', () => {
  const metadataLink = () => `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`;

  it('serves the protected resource metadata (RFC 9728) naming the issuers', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      const doc = (await res.json()) as Record<string, unknown>;
      assert.equal(doc.resource, resource);
      assert.deepEqual(doc.authorization_servers, [t.issuer.issuer]);
      assert.deepEqual(doc.bearer_methods_supported, ['header']);
    }
  });

  it('a request without a token gets 401 with the metadata link', async () => {
    const res = await rawInitialize();
    assert.equal(res.status, 401);
    const header = res.headers.get('www-authenticate') ?? '';
    assert.match(header, /^Bearer /);
    assert.ok(header.includes(metadataLink()), `metadata link in ${header}`);
    assert.ok(!header.includes('error='), 'no error attribute without credentials (RFC 6750)');
  });

  it('an expired token gets 401 invalid_token with the metadata link', async () => {
    const now = Math.floor(Date.now() / 1000);
    const res = await rawInitialize(await mcpToken('support-bot', { iat: now - 7200, exp: now - 3600 }));
    assert.equal(res.status, 401);
    const header = res.headers.get('www-authenticate') ?? '';
    assert.ok(header.includes(metadataLink()), `metadata link in ${header}`);
    assert.match(header, /error="invalid_token"/);
    assert.match(((await res.json()) as { error: string }).error, /auth\.expired/);
  });

  it('a token for another audience gets 401, even one the wire endpoint accepts', async () => {
    const wireOnly = await t.issuer.sign({ sub: 'support-bot', groups: ['mcp-support'] });
    const res = await rawInitialize(wireOnly);
    assert.equal(res.status, 401);
    const header = res.headers.get('www-authenticate') ?? '';
    assert.ok(header.includes(metadataLink()), `metadata link in ${header}`);
    assert.match(((await res.json()) as { message: string }).message, /audience .* is not accepted/);
    // The same token is good on the wire endpoint: the audience binds it to that resource only.
    const c = new pg.Client(t.client(wireOnly));
    await c.connect();
    await c.end();

    const foreign = await t.issuer.sign({ sub: 'support-bot', groups: ['mcp-support'], aud: 'someone-else' });
    assert.equal((await rawInitialize(foreign)).status, 401);
  });

  it('the SDK client cannot connect with a bad token', async () => {
    await assert.rejects(connect('not-a-jwt'), (e: { code?: number; message: string }) => e.code === 401 && /not a well-formed JWT/.test(e.message));
  });
});

describe('tools through the session pipeline', () => {
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  before(async () => {
    ({ client, transport } = await connect(await mcpToken()));
  });
  after(async () => {
    await transport?.terminateSession().catch(() => {});
    await client?.close();
  });

  it('lists the tools, described with the identity\'s scope', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['describe_table', 'explain', 'list_schemas', 'list_tables', 'query', 'review_status']);
    const query = tools.find((x) => x.name === 'query')!;
    assert.match(query.description ?? '', /support-bot/);
    assert.match(query.description ?? '', /app \(default\): policies support-agents; at most 20 rows/);
    assert.match(client.getInstructions() ?? '', /support-agents/);
  });

  it('list_schemas and list_tables show only what the scope covers', async () => {
    const schemas = json(await client.callTool({ name: 'list_schemas', arguments: {} }));
    assert.deepEqual(schemas.schemas, [{ schema: 'public', relations: 2 }]);
    const tables = json(await client.callTool({ name: 'list_tables', arguments: { schema: 'public' } }));
    assert.deepEqual(
      tables.tables.map((x: { name: string }) => x.name),
      ['customers', 'orders'],
      'secrets is not in the scope',
    );
    assert.equal(tables.tables[0].comment, 'people who buy things');
    assert.equal(tables.tables[0].kind, 'table');
  });

  it('describe_table marks masked columns and leaves out denied ones', async () => {
    const d = json(await client.callTool({ name: 'describe_table', arguments: { table: 'customers' } }));
    const byName = new Map<string, Record<string, unknown>>(d.columns.map((c: Record<string, unknown>) => [c.name, c]));
    assert.deepEqual([...byName.keys()], ['id', 'name', 'email', 'ssn']);
    assert.equal(byName.get('email')!.masked, true);
    assert.equal(byName.get('email')!.masker, 'email');
    assert.equal(byName.get('ssn')!.masker, 'redact');
    assert.equal(byName.get('name')!.masked, undefined);
    assert.equal(byName.get('name')!.nullable, false);
    assert.equal(byName.get('id')!.primary_key, true);
    assert.equal(byName.get('id')!.type, 'integer');
    assert.match(d.note, /not readable/);
  });

  it('describe_table of a table outside the scope returns the wire refusal', async () => {
    const r = (await client.callTool({ name: 'describe_table', arguments: { table: 'secrets' } })) as CallToolResult;
    assert.equal(r.isError, true);
    assert.match(text(r), /support-bot may not read public\.secrets/);
  });

  it('query returns typed rows with masked values', async () => {
    const r = json(
      await client.callTool({ name: 'query', arguments: { sql: 'select id, name, email, ssn from customers where id = $1', params: [7] } }),
    );
    assert.deepEqual(r.columns, [
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'text' },
      { name: 'email', type: 'text' },
      { name: 'ssn', type: 'text' },
    ]);
    assert.equal(r.rows.length, 1);
    const row = r.rows[0];
    assert.equal(row.id, 7);
    assert.equal(row.name, 'name 7');
    assert.notEqual(row.email, 'person7@example.com');
    assert.match(row.email, /@example\.com$/, `email masked as an email: ${row.email}`);
    assert.notEqual(row.ssn, '123-45-0007');
    assert.equal(r.command, 'SELECT 1');
  });

  it('query caps the rows and says so', async () => {
    const r = json(await client.callTool({ name: 'query', arguments: { sql: 'select id, total from orders order by id' } }));
    assert.equal(r.rows.length, 20);
    assert.equal(r.truncated, true);
    assert.match(r.note, /first 20 rows/);
    assert.equal(r.rows[0].total, '3', 'numeric stays text (no precision lost)');
    const few = json(await client.callTool({ name: 'query', arguments: { sql: 'select id from orders order by id', max_rows: 5 } }));
    assert.equal(few.rows.length, 5);
    assert.equal(few.truncated, true);
  });

  it('a query outside the scope returns the same refusal a wire client reads', async () => {
    const sql = 'select value from secrets';
    const r = (await client.callTool({ name: 'query', arguments: { sql } })) as CallToolResult;
    assert.equal(r.isError, true);
    const wire = new pg.Client(t.client(await mcpToken()));
    await wire.connect();
    const err = await wire.query(sql).then(
      () => assert.fail('the wire client was allowed'),
      (e: pg.DatabaseError) => e,
    );
    await wire.end();
    assert.equal(text(r).split('\n')[0], err.message);
    assert.ok(err.hint && text(r).includes(`Hint: ${err.hint}`), `hint in ${text(r)}`);
    assert.match(text(r), /SQLSTATE 42501/);

    const denied = (await client.callTool({ name: 'query', arguments: { sql: 'select password_hash from customers' } })) as CallToolResult;
    assert.equal(denied.isError, true);
    assert.match(text(denied), /may not read column public\.customers\.password_hash/);
    const write = (await client.callTool({ name: 'query', arguments: { sql: "update orders set total = 0" } })) as CallToolResult;
    assert.equal(write.isError, true);
    assert.match(text(write), /may not update public\.orders/);
  });

  it('a database error comes back as a tool error with its SQLSTATE', async () => {
    const r = (await client.callTool({ name: 'query', arguments: { sql: 'select 1/0 from orders' } })) as CallToolResult;
    assert.equal(r.isError, true);
    assert.match(text(r), /division by zero/);
    assert.match(text(r), /SQLSTATE 22012/);
  });

  it('explain shows the plan of an allowed statement and refuses one outside the scope', async () => {
    const plan = (await client.callTool({ name: 'explain', arguments: { sql: 'select id from orders where id = $1', params: [3] } })) as CallToolResult;
    assert.notEqual(plan.isError, true, text(plan));
    assert.match(text(plan), /orders/);
    const refused = (await client.callTool({ name: 'explain', arguments: { sql: 'select * from secrets' } })) as CallToolResult;
    assert.equal(refused.isError, true);
    assert.match(text(refused), /may not read public\.secrets/);
    for (const sql of ['ANALYZE select id from orders', '(ANALYZE) select id from orders']) {
      const analyze = (await client.callTool({ name: 'explain', arguments: { sql } })) as CallToolResult;
      assert.equal(analyze.isError, true, `explain never executes: ${sql}`);
      assert.match(text(analyze), /syntax error/);
    }
  });

  it('review_status does not know an id that is no review of the caller', async () => {
    const r = (await client.callTool({ name: 'review_status', arguments: { review_id: 'r-1' } })) as CallToolResult;
    assert.equal(r.isError, true, 'an unknown id is a tool error');
    assert.match(text(r), /no review r-1 of yours/);
  });

  it('a session is bound to the identity that opened it', async () => {
    const sessionId = transport.sessionId!;
    const other = await t.issuer.sign({ sub: 'intruder', groups: ['mcp-support'], aud: ['pgwarden', resource] });
    const res = await fetch(resource, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${other}`,
        'Mcp-Session-Id': sessionId,
        'Mcp-Protocol-Version': transport.protocolVersion ?? '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list', params: {} }),
    });
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { message: string }).message, /belongs to another identity/);
    // A fresh token of the same identity keeps using the session.
    const fresh = await mcpToken();
    const again = await fetch(resource, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${fresh}`,
        'Mcp-Session-Id': sessionId,
        'Mcp-Protocol-Version': transport.protocolVersion ?? '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 100, method: 'tools/list', params: {} }),
    });
    assert.equal(again.status, 200);
    assert.match(await again.text(), /describe_table/);
  });

  it('an identity with no scope gets a tool error, not a connection', async () => {
    const outsider = await t.issuer.sign({ sub: 'outsider', groups: ['nobody'], aud: ['pgwarden', resource] });
    const { client: c, transport: tr } = await connect(outsider);
    try {
      const { tools } = await c.listTools();
      assert.match(tools[0].description ?? '', /No policy currently grants you any database/);
      const r = (await c.callTool({ name: 'query', arguments: { sql: 'select 1' } })) as CallToolResult;
      assert.equal(r.isError, true);
      assert.match(text(r), /no policy grants outsider access to database app/);
    } finally {
      await tr.terminateSession().catch(() => {});
      await c.close();
    }
  });

  it('every call is in the audit log with its tool and MCP session', async () => {
    const sessionId = transport.sessionId!;
    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
    try {
      const starts = await waitFor('the MCP session records', async () => {
        const rows = await store.search({ identity: 'support-bot', types: ['session_start'] });
        const mine = rows.map((r) => ({ ...JSON.parse(r.body).data, sessionId: r.sessionId })).filter((d) => String(d.applicationName).endsWith(`:${sessionId}`));
        return mine.length >= 12 ? mine : null;
      });
      const tools = new Set(starts.map((d) => String(d.applicationName).split(':')[1]));
      for (const tool of ['list_schemas', 'list_tables', 'describe_table', 'query', 'explain']) assert.ok(tools.has(tool), `a session for ${tool}: ${[...tools]}`);
      assert.ok(starts.every((d) => d.transport === 'mcp'), 'recorded as MCP sessions');

      const statements = await store.search({ identity: 'support-bot', types: ['statement'] });
      const bodies = statements.map((r) => ({ sessionId: r.sessionId, ...JSON.parse(r.body).data }));
      const refused = bodies.find((b) => b.text === 'select value from secrets' && b.decision.verdict === 'deny');
      assert.ok(refused, 'the refused query is recorded');
      const masked = bodies.find((b) => b.text === 'select id, name, email, ssn from customers where id = $1');
      assert.ok(masked, 'the allowed query is recorded');
      assert.deepEqual(masked.params, ['7']);
      const queryStarts = starts.filter((d) => d.applicationName === `mcp:query:${sessionId}`).map((d) => d.sessionId);
      assert.ok(queryStarts.includes(masked.sessionId), 'the statement belongs to a query session of this MCP session');
    } finally {
      await store.close();
    }
  });
});

describe('sessions per identity', () => {
  // A gateway of its own: four sessions per identity, and idle_timeout 4 s, so a session idle
  // for a second makes room for its identity's next one.
  let g: TestGateway;
  let url: string;
  before(async () => {
    g = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.policies = POLICIES;
        raw.mcp = { max_sessions_per_identity: 4, idle_timeout: '4s' };
      },
    });
    url = `http://${g.gw.http.host}:${g.gw.http.port}/mcp`;
  });
  after(async () => {
    await g?.stop();
  });
  const token = (sub: string) => g.issuer.sign({ sub, groups: ['mcp-support'], aud: ['pgwarden', url] });
  const post = async (tok: string, body: string, sessionId?: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${tok}`,
        'Mcp-Protocol-Version': '2025-06-18',
        ...(sessionId !== undefined && { 'Mcp-Session-Id': sessionId }),
      },
      body,
    });
    return { status: res.status, text: await res.text(), id: res.headers.get('mcp-session-id') };
  };
  const initialize = (tok: string) => post(tok, initializeBody());
  const listTools = (tok: string, id: string) => post(tok, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }), id);

  it('an identity at its share: a new session replaces its least recently used one once that is idle, and is refused while all are in use', async () => {
    const hoarder = await token('hoarder');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await initialize(hoarder);
      assert.equal(r.status, 200, r.text);
      ids.push(r.id!);
    }
    // All four were used just now: a fifth is refused, and none of them is closed for it.
    const refused = await initialize(hoarder);
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.text, /hoarder has 4 MCP sessions in use \(mcp\.max_sessions_per_identity\)/);
    await new Promise((r) => setTimeout(r, 1_200));
    // Sessions 3 and 4 are used again; 1 and 2 stay idle and make room for two new ones.
    for (const id of ids.slice(2)) assert.equal((await listTools(hoarder, id)).status, 200);
    for (let i = 0; i < 2; i++) {
      const r = await initialize(hoarder);
      assert.equal(r.status, 200, r.text);
      ids.push(r.id!);
    }
    for (const [i, id] of ids.entries()) assert.equal((await listTools(hoarder, id)).status, i < 2 ? 404 : 200, `session ${i + 1} of 6`);
    // Another identity is not limited by the hoarder's share.
    const other = await initialize(await token('bystander'));
    assert.equal(other.status, 200, other.text);
    assert.equal((await listTools(await token('bystander'), other.id!)).status, 200);
  });

  it('initializes sent at once open no more sessions than the share: the slot is taken at the check', async () => {
    // Twelve initializes whose bodies all arrive only after every one of them has passed the
    // check: with the check against open sessions alone, all twelve open one.
    const racer = await token('racer');
    const body = initializeBody();
    const head = `POST /mcp HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAuthorization: Bearer ${racer}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-06-18\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const sockets = await Promise.all(
      Array.from({ length: 12 }, () => new Promise<net.Socket & { got: string }>((resolve) => {
        const sock = net.connect(Number(new URL(url).port), '127.0.0.1', () => {
          sock.write(head + body.slice(0, -1));
          resolve(sock);
        }) as net.Socket & { got: string };
        sock.got = '';
        sock.on('data', (d) => (sock.got += d));
        sock.on('error', () => {});
      })),
    );
    try {
      const answered = () => sockets.filter((sk) => sk.got.includes('\r\n\r\n'));
      // The eight over the share are refused at once, while four bodies are still incomplete.
      await waitFor('eight refusals before any body is complete', () => answered().length === 8, 10_000);
      for (const sk of answered()) assert.match(sk.got, /^HTTP\/1\.1 429 /);
      for (const sk of sockets) if (!answered().includes(sk)) sk.write(body.slice(-1));
      await waitFor('every answer', () => answered().length === 12, 10_000);
      const opened = sockets.map((sk) => /mcp-session-id: (\S+)/i.exec(sk.got)?.[1]).filter((id): id is string => id !== undefined);
      assert.equal(new Set(opened).size, 4, 'exactly the share of sessions opened');
      for (const id of opened) assert.equal((await listTools(racer, id)).status, 200);
      assert.equal((await initialize(racer)).status, 429, 'and the share is full');
    } finally {
      for (const sk of sockets) sk.destroy();
    }
  });

  it("revoking an identity closes its sessions and their event streams at once, and frees its share", async () => {
    const tok = await token('revokee');
    const opened = await initialize(tok);
    assert.equal(opened.status, 200, opened.text);
    const id = opened.id!;
    assert.equal((await post(tok, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), id)).status, 202);
    const bystander = await token('bystander-2');
    const kept = await initialize(bystander);
    // The GET event stream a client keeps open for server messages.
    const stream = await fetch(url, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${tok}`, 'Mcp-Session-Id': id, 'Mcp-Protocol-Version': '2025-06-18' } });
    assert.equal(stream.status, 200);
    let ended = false;
    const reader = stream.body!.getReader();
    void (async () => {
      try {
        while (!(await reader.read()).done);
      } catch {
        // Ended by the server is what the test waits for, either way.
      }
      ended = true;
    })();
    await g.gw.revoke('revokee');
    try {
      await waitFor('the event stream to end', () => ended);
      assert.ok(g.logs.some((l) => /its identity was revoked/.test(l) && l.includes(id)), 'the close is logged with its reason');
    } finally {
      await g.gw.unrevoke('revokee');
      await reader.cancel().catch(() => {});
    }
    // Lifted again, the same token finds its old session gone (not merely refused while revoked).
    assert.equal((await listTools(await token('revokee'), id)).status, 404);
    assert.equal((await listTools(bystander, kept.id!)).status, 200, "another identity's session stays");
  });
});

describe('review_status: a deferred statement through the query tool', () => {
  it('is refused with the review id, shows pending, then approved, and the re-run runs once', async () => {
    const ops = await connect(await mcpToken('ops-bot', { groups: ['mcp-ops'] }));
    const support = await connect(await mcpToken());
    try {
      const call = (c: Client, name: string, args: Record<string, unknown>) => c.callTool({ name, arguments: args }) as Promise<CallToolResult>;
      const refused = await call(ops.client, 'query', { sql: 'delete from scratch' });
      assert.equal(refused.isError, true, 'a DELETE without WHERE is deferred for review');
      const id = /review (r-[a-z0-9]+) was requested/.exec(text(refused))?.[1];
      assert.ok(id, `the refusal names the review: ${text(refused)}`);

      const pending = json(await call(ops.client, 'review_status', { review_id: id }));
      assert.equal(pending.status, 'pending');
      assert.equal(pending.statement, 'delete from scratch');
      assert.match(pending.next, /Waiting for 1 more approval/);
      const other = await call(support.client, 'review_status', { review_id: id });
      assert.equal(other.isError, true, 'another identity does not see the review');
      assert.match(text(other), new RegExp(`no review ${id} of yours`));

      const res = await fetch(`${base}/api/reviews/${id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.issuer.sign({ sub: 'dana-dba', groups: ['dba'] })}`, 'content-type': 'application/json' },
        body: JSON.stringify({ comment: 'scratch data, fine' }),
      });
      assert.equal(res.status, 200, await res.text());
      const approved = json(await call(ops.client, 'review_status', { review_id: id }));
      assert.equal(approved.status, 'approved');
      assert.deepEqual(approved.approvals.map((a: { by: string; comment?: string }) => [a.by, a.comment]), [['dana-dba', 'scratch data, fine']]);
      assert.match(approved.next, /Run exactly the same statement again/);

      assert.equal(json(await call(ops.client, 'query', { sql: 'delete from scratch' })).command, 'DELETE 2', 'the re-run runs');
      assert.equal(json(await call(ops.client, 'review_status', { review_id: id })).status, 'consumed', 'and uses the approval');
      const again = await call(ops.client, 'query', { sql: 'delete from scratch' });
      assert.equal(again.isError, true, 'a second run needs a new review');
      assert.doesNotMatch(text(again), new RegExp(id), 'under a new id');
    } finally {
      for (const s of [ops, support]) {
        await s.transport.terminateSession().catch(() => {});
        await s.client.close();
      }
    }
  });
});
