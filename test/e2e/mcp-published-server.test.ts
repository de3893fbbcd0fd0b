/**
 * A published MCP server for PostgreSQL (@modelcontextprotocol/server-postgres from the npm
 * registry, not written here) pointed at pgwarden's wire endpoint with a token as its password,
 * driven by the SDK's client over stdio: its `query` tool is scoped, masked and audited like any
 * other PostgreSQL client's — with no database credential anywhere in its configuration.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { openAuditStore } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

/** The package's `bin` (dist/index.js), found through its package.json. */
function publishedServerBin(): string {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve('@modelcontextprotocol/server-postgres/package.json');
  const pkg = require(pkgJson) as { bin: Record<string, string> };
  return join(dirname(pkgJson), pkg.bin['mcp-server-postgres']);
}

let t: TestGateway;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-mcp-published-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'support-agents',
          match: { groups: ['mcp-support'] },
          allow: [{ tables: ['public.customers'], operations: ['select'] }],
        },
      ];
      raw.masking = { rules: [{ column: 'public.customers.email', with: 'email' }] };
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}`, instance: 'gw-published' };
    },
  });
  t.pg.psql(
    `create table customers (id int primary key, name text, email text);
     create table secrets (id int, value text);
     insert into customers select g, 'name ' || g, 'person' || g || '@example.com' from generate_series(1, 5) g;
     insert into secrets values (1, 'the launch codes');
     alter table customers owner to gw_app; alter table secrets owner to gw_app;`,
    'app',
  );
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a published MCP server through the wire endpoint', () => {
  let client: Client;
  let transport: StdioClientTransport;
  const stderr: string[] = [];

  before(async () => {
    const token = await t.issuer.sign({ sub: 'published-server', groups: ['mcp-support'] });
    transport = new StdioClientTransport({ command: process.execPath, args: [publishedServerBin(), t.url(token)], stderr: 'pipe' });
    transport.stderr?.on('data', (chunk: Buffer) => stderr.push(String(chunk)));
    client = new Client({ name: 'mcp-test', version: '1.0.0' });
    await client.connect(transport);
  });
  after(async () => {
    await client?.close();
  });

  it('its query tool returns rows in scope, masked', async () => {
    const { tools } = await client.listTools();
    assert.ok(tools.some((x) => x.name === 'query'), `tools: ${tools.map((x) => x.name)}`);
    const r = (await client.callTool({ name: 'query', arguments: { sql: 'select id, name, email from customers order by id' } })) as CallToolResult;
    assert.notEqual(r.isError, true, JSON.stringify(r));
    const rows = JSON.parse((r.content[0] as { text: string }).text) as { id: number; name: string; email: string }[];
    assert.equal(rows.length, 5);
    assert.equal(rows[0].name, 'name 1');
    for (const row of rows) {
      assert.notEqual(row.email, `person${row.id}@example.com`, 'email is masked');
      assert.match(row.email, /@example\.com$/);
    }
  });

  it('a query outside the scope returns the gateway\'s refusal', async () => {
    await assert.rejects(
      client.callTool({ name: 'query', arguments: { sql: 'select value from secrets' } }),
      (e: Error) => /published-server may not read public\.secrets/.test(e.message),
    );
    // The server rolls back after a refusal; the connection stays usable.
    const again = (await client.callTool({ name: 'query', arguments: { sql: 'select count(*) as n from customers' } })) as CallToolResult;
    assert.notEqual(again.isError, true, JSON.stringify(again));
    assert.match((again.content[0] as { text: string }).text, /"n": "5"/);
  });

  it('its statements are in the audit log', async () => {
    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
    try {
      const bodies = await waitFor('the statement records', async () => {
        const rows = await store.search({ identity: 'published-server', types: ['statement'] });
        const b = rows.map((r) => JSON.parse(r.body).data as { text: string; decision: { verdict: string } });
        return b.some((x) => x.text === 'select count(*) as n from customers') ? b : null;
      });
      const of = (text: string) => bodies.find((b) => b.text === text);
      assert.equal(of('select id, name, email from customers order by id')?.decision.verdict, 'allow');
      assert.equal(of('select value from secrets')?.decision.verdict, 'deny');
      assert.equal(of('BEGIN TRANSACTION READ ONLY')?.decision.verdict, 'allow');
    } finally {
      await store.close();
    }
  });
});
