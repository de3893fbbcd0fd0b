/**
 * `pgwarden mcp-stdio`: an MCP client that only launches local processes reaches the `/mcp`
 * endpoint through the bridge. The token comes from a command, which the bridge runs again when
 * the endpoint answers 401 and before a token expires, keeping the same MCP session.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { run } from '../helpers/clients.ts';

const BIN = join(import.meta.dirname, '../../bin/pgwarden.mjs');

/** Prints the next token of tokens.json on each run (the last one once the list is used up). */
const TOKEN_COMMAND = `
const fs = require('node:fs');
const [tokens, counter] = process.argv.slice(2);
const n = fs.existsSync(counter) ? Number(fs.readFileSync(counter, 'utf8')) : 0;
fs.writeFileSync(counter, String(n + 1));
const list = JSON.parse(fs.readFileSync(tokens, 'utf8'));
process.stdout.write(list[Math.min(n, list.length - 1)] + '\\n');
`;

let t: TestGateway;
let dir: string;
let resource: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-mcp-stdio-'));
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [{ name: 'bridged', match: { groups: ['mcp-support'] }, allow: [{ tables: ['public.customers'], operations: ['select'] }] }];
      raw.masking = { rules: [{ column: 'public.customers.email', with: 'redact' }] };
    },
  });
  resource = `http://${t.gw.http.host}:${t.gw.http.port}/mcp`;
  t.pg.psql(
    `create table customers (id int primary key, email text);
     insert into customers values (1, 'one@example.com'), (2, 'two@example.com');
     alter table customers owner to gw_app;`,
    'app',
  );
  writeFileSync(join(dir, 'token-command.cjs'), TOKEN_COMMAND);
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pgwarden mcp-stdio', () => {
  it('bridges a stdio MCP client to /mcp, refreshing the token on a 401 and before expiry', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      // Valid, but not for this resource: the endpoint answers 401 and the bridge asks again.
      await t.issuer.sign({ sub: 'bridge-bot', groups: ['mcp-support'] }),
      // For this resource, but expiring within the bridge's refresh margin: replaced before use.
      await t.issuer.sign({ sub: 'bridge-bot', groups: ['mcp-support'], aud: ['pgwarden', resource], exp: now + 30 }),
      await t.issuer.sign({ sub: 'bridge-bot', groups: ['mcp-support'], aud: ['pgwarden', resource] }),
    ];
    const tokensFile = join(dir, 'tokens.json');
    const counter = join(dir, 'count');
    writeFileSync(tokensFile, JSON.stringify(tokens));
    const stderr: string[] = [];
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp-stdio', '--url', resource, '--token-command', `"${process.execPath}" "${join(dir, 'token-command.cjs')}" "${tokensFile}" "${counter}"`],
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => stderr.push(String(chunk)));
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    try {
      await client.connect(transport).catch((err: Error) => {
        throw new Error(`${err.message}; bridge stderr:\n${stderr.join('')}`);
      });
      const { tools } = await client.listTools();
      assert.ok(tools.some((x) => x.name === 'describe_table'), `tools: ${tools.map((x) => x.name)}`);
      const r = (await client.callTool({ name: 'query', arguments: { sql: 'select id, email from customers order by id' } })) as CallToolResult;
      assert.notEqual(r.isError, true, (r.content[0] as { text: string }).text);
      const rows = JSON.parse((r.content[0] as { text: string }).text).rows as { id: number; email: string }[];
      assert.deepEqual(
        rows.map((x) => x.id),
        [1, 2],
      );
      assert.ok(rows.every((x) => !x.email.includes('@example.com')), `masked: ${JSON.stringify(rows)}`);
      const refused = (await client.callTool({ name: 'query', arguments: { sql: 'select 1 from pg_stat_activity' } })) as CallToolResult;
      assert.equal(refused.isError, true);
      assert.match((refused.content[0] as { text: string }).text, /bridge-bot may not read pg_catalog\.pg_stat_activity/);
    } finally {
      await client.close();
    }
    assert.equal(readFileSync(counter, 'utf8'), '3', `the token command ran once per token; stderr:\n${stderr.join('')}`);
    const opened = t.logs.filter((l) => l.includes('mcp session opened') && l.includes('bridge-bot'));
    assert.equal(opened.length, 1, 'one MCP session throughout the token refreshes');
    assert.ok(!stderr.join('').includes(tokens[2]), 'the token never reaches the bridge\'s stderr');
  });

  it('refuses to start without a way to get a token', async () => {
    const r = await run(process.execPath, [BIN, 'mcp-stdio', '--url', resource], { PGWARDEN_TOKEN: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pass --token-command/);
  });
});
