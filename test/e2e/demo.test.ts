/**
 * `pgwarden demo` as a newcomer runs it: the real command in a child process, then the commands
 * it prints (token, psql through the gateway, check), Ctrl-C, and a second start on the same data
 * directory. The PGlite fallback is driven in-process, forced with `embedded: 'pglite'`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CUSTOMERS, runDemo } from '../../src/demo/index.ts';
import { silentLogger } from '../../src/log.ts';
import { psql, run } from '../helpers/clients.ts';
import { freePort } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/pgwarden.mjs');
const READY = 'pgwarden demo is running';

interface RunningDemo {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Milliseconds from spawn to the ready text. */
  readyMs: number;
}

async function startDemo(dataDir: string, port: number, httpPort: number): Promise<RunningDemo> {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, 'demo', '--port', String(port), '--http-port', String(httpPort), '--data-dir', dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(
      'the demo to be ready',
      () => {
        if (child.exitCode !== null) throw new Error(`demo exited with ${child.exitCode}\n${out}\n${err}`);
        return out.includes(READY);
      },
      120_000,
      50,
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return { child, stdout: () => out, stderr: () => err, exited, readyMs: Date.now() - started };
}

async function interrupt(demo: RunningDemo): Promise<number | null> {
  demo.child.kill('SIGINT');
  const code = await Promise.race([demo.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  if (code === 'timeout') {
    demo.child.kill('SIGKILL');
    assert.fail(`the demo did not stop within 30 s after SIGINT\n${demo.stdout()}`);
  }
  return code;
}

/** PIDs of processes whose command line mentions `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(text)) pids.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function token(dataDir: string, identity: string): Promise<string> {
  const r = await run(process.execPath, [BIN, 'token', '--data-dir', dataDir, '--identity', identity]);
  assert.equal(r.code, 0, r.stderr);
  const jwt = r.stdout.trim();
  assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token prints only a JWT');
  return jwt;
}

function gatewayUrl(port: number, identity: string, jwt: string): string {
  return `postgres://${identity}:${jwt}@127.0.0.1:${port}/shop?sslmode=disable`;
}

describe('pgwarden demo with a PostgreSQL cluster of its own', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pgwarden-demo-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('starts, serves the printed commands, stops on Ctrl-C, and restarts without seeding again', async (t) => {
    const port = await freePort();
    const httpPort = await freePort();
    const first = await startDemo(dataDir, port, httpPort);
    let firstStopped = false;
    t.after(() => void (firstStopped || first.child.kill('SIGKILL')));
    const out = first.stdout();
    assert.match(out, /initialising a PostgreSQL cluster/);
    assert.match(out, new RegExp(`seeding ${CUSTOMERS} customers`));
    assert.ok(out.includes(`PGPASSWORD=$(npx pgwarden token --data-dir ${dataDir} --identity analyst) psql "postgres://analyst@127.0.0.1:${port}/shop?sslmode=disable"`), out);
    assert.ok(out.includes(`npx pgwarden revoke --data-dir ${dataDir} --subject analyst`), 'out.includes(`npx pgwarden revoke --data-dir ${dataDir} --su');
    assert.match(out, /Ctrl-C/);
    assert.match(out, /analyst +reads orders and customers, read-only; sees email, phone and ssn masked/);

    const jwt = await token(dataDir, 'analyst');
    const counted = await psql(gatewayUrl(port, 'analyst', jwt), 'select count(*) from customers');
    assert.equal(counted.code, 0, counted.stderr);
    assert.equal(counted.stdout.trim(), String(CUSTOMERS));
    // The demo policies hold: the analyst sees email, phone and ssn masked and may not write;
    // support-bot sees emails in clear and may change only orders.status; the migrator may write.
    const operatorUrl = new URL(JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')).upstreamUrl);
    assert.equal(operatorUrl.pathname, '/shop', "demo.json's operator URL opens the demo's database");
    const direct = await psql(operatorUrl.toString(), 'select email, phone, ssn from customers where id = 1');
    assert.equal(direct.code, 0, direct.stderr);
    const [email, phone, ssn] = direct.stdout.trim().split('|');
    const masked = await psql(gatewayUrl(port, 'analyst', jwt), 'select email, phone, ssn from customers where id = 1');
    assert.equal(masked.code, 0, masked.stderr);
    for (const v of [email, phone, ssn]) assert.ok(!masked.stdout.includes(v), `the analyst does not see ${v} in clear`);
    const support = await token(dataDir, 'support-bot');
    const clear = await psql(gatewayUrl(port, 'support-bot', support), 'select email, ssn from customers where id = 1');
    assert.ok(clear.stdout.includes(email) && !clear.stdout.includes(ssn), `support-bot sees the email only: ${clear.stdout}`);
    const status = await psql(gatewayUrl(port, 'support-bot', support), "update orders set status = 'shipped' where id = 1");
    assert.equal(status.code, 0, status.stderr);
    const total = await psql(gatewayUrl(port, 'support-bot', support), 'update orders set total = 0 where id = 1');
    assert.match(total.stderr, /may not update column public\.orders\.total|orders\.total/);
    // Something to find after the restart: a seed running again would fail on this id or lose it.
    const migrator = await token(dataDir, 'migrator');
    const marked = await psql(gatewayUrl(port, 'migrator', migrator), "insert into customers values (900001, 'Restart Check', 'r@example.com', '+1-555-0000', '900-00-0000', now())");
    assert.equal(marked.code, 0, marked.stderr);

    // The migrator's TRUNCATE waits for a human; the printed CLI command approves it and it runs.
    assert.ok(out.includes(`npx pgwarden reviews approve <id> --data-dir ${dataDir}`), 'the banner says how to approve a review');
    assert.ok(out.includes(`http://127.0.0.1:${httpPort}/console/reviews`), 'and where the approvals page is');
    const scratch = await psql(gatewayUrl(port, 'migrator', migrator), 'create table scratch (id int); insert into scratch values (1)');
    assert.equal(scratch.code, 0, scratch.stderr);
    const truncating = psql(gatewayUrl(port, 'migrator', migrator), 'truncate scratch');
    const held = await waitFor('the truncate to be held for review', async () => {
      const r = await run(process.execPath, [BIN, 'reviews', 'list', '--status', 'pending', '--json', '--data-dir', dataDir]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { id: string; text: string }[]).find((x) => x.text === 'truncate scratch');
    }, 15_000, 200);
    assert.equal((await psql(operatorUrl.toString(), 'select count(*) from scratch')).stdout.trim(), '1', 'nothing ran before the approval');
    const approved = await run(process.execPath, [BIN, 'reviews', 'approve', held.id, '--data-dir', dataDir]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`approved ${held.id}`));
    const truncated = await truncating;
    assert.equal(truncated.code, 0, truncated.stderr);
    assert.match(truncated.stderr, new RegExp(`held for review ${held.id}`), 'psql printed the review notice');
    assert.equal((await psql(operatorUrl.toString(), 'select count(*) from scratch')).stdout.trim(), '0', 'the truncate ran once approved');

    const info = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8'));
    assert.deepEqual(info.postgres, { host: '127.0.0.1', port });
    assert.deepEqual(info.http, { host: '127.0.0.1', port: httpPort });
    assert.deepEqual(info.devIssuer, { issuer: `http://127.0.0.1:${httpPort}/dev`, keyFile: 'dev-issuer-key.json', audience: 'pgwarden' });
    assert.deepEqual(info.identities.migrator, { subject: 'migrator', groups: ['migrators'] });
    assert.equal(statSync(join(dataDir, 'demo.json')).mode & 0o077, 0, 'demo.json holds the operator URL: owner only');
    assert.equal(statSync(join(dataDir, 'upstream-password')).mode & 0o077, 0);
    const operator = await psql(info.upstreamUrl, "select rolsuper from pg_roles where rolname = current_user");
    assert.equal(operator.stdout.trim(), 't', 'upstreamUrl is the operator superuser');
    assert.equal((await psql(info.upstreamUrl, 'select current_database()')).stdout.trim(), 'shop', 'of the shop database');

    // The MCP endpoint the banner prints answers the demo's tokens, and masks like the wire does.
    assert.ok(out.includes(`http://127.0.0.1:${httpPort}/mcp`) && out.includes('mcp-stdio'), 'the banner shows the MCP endpoint and a client configuration');
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${httpPort}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${jwt}` } } });
    const mcp = new Client({ name: 'demo-test', version: '1.0.0' });
    await mcp.connect(transport);
    const result = (await mcp.callTool({ name: 'query', arguments: { sql: 'select email, ssn from customers where id = 1' } })) as { content: { text: string }[] };
    const mcpText = result.content.map((c) => c.text).join('\n');
    assert.ok(!mcpText.includes(email) && !mcpText.includes(ssn), `MCP results are masked: ${mcpText}`);
    await mcp.close();

    const check = await run(process.execPath, [BIN, 'check', '--config', join(dataDir, 'pgwarden.yaml')]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /config OK/);

    assert.equal(await interrupt(first), 0);
    firstStopped = true;
    assert.match(first.stdout(), /stopped/);
    assert.deepEqual(processesMentioning(join(dataDir, 'postgres')), [], 'no PostgreSQL left for this data directory');
    assert.equal(existsSync(join(dataDir, 'postgres', 'postmaster.pid')), false);

    // Same data directory, new ports: the cluster, its data and the token key are reused.
    const port2 = await freePort();
    const second = await startDemo(dataDir, port2, httpPort);
    t.after(() => void (second.child.exitCode === null && second.child.kill('SIGKILL')));
    const out2 = second.stdout();
    assert.doesNotMatch(out2, /initialising/);
    assert.doesNotMatch(out2, /seeding/);
    assert.match(out2, /not seeded again/);
    const again = await psql(gatewayUrl(port2, 'analyst', jwt), "select count(*) from customers; select name from customers where id = 900001");
    assert.equal(again.code, 0, `a token minted before the restart still works: ${again.stderr}`);
    assert.deepEqual(again.stdout.trim().split('\n'), [String(CUSTOMERS + 1), 'Restart Check']);
    assert.equal(await interrupt(second), 0);
    assert.deepEqual(processesMentioning(join(dataDir, 'postgres')), []);
    t.diagnostic(`first start ${first.readyMs} ms, restart ${second.readyMs} ms`);
  });

  test('a port in use is refused with the flag that changes it', async () => {
    const taken = await startBusyPort();
    try {
      const r = await run(process.execPath, [BIN, 'demo', '--port', String(taken.port), '--http-port', String(await freePort()), '--data-dir', join(dataDir, 'unused')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${taken.port} is already in use.*pass --port`));
      assert.equal(existsSync(join(dataDir, 'unused')), false, 'nothing is set up before the ports are known to be free');
    } finally {
      await taken.close();
    }
  });
});

describe('pgwarden demo on PGlite', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pgwarden-demo-pglite-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('serves the seeded shop database through the gateway and says what PGlite cannot do', async () => {
    let text = '';
    const out = new Writable({
      write(chunk, _enc, done) {
        text += chunk;
        done();
      },
    });
    const demo = await runDemo({ port: 0, httpPort: 0, dataDir, logger: silentLogger(), embedded: 'pglite', out });
    try {
      assert.equal(demo.upstream.kind, 'pglite');
      assert.match(text, /one backend shared by every connection/);
      assert.match(text, /no roles and no authentication/);
      const jwt = await token(dataDir, 'support-bot');
      const r = await psql(gatewayUrl(demo.postgres.port, 'support-bot', jwt), 'select count(*) from customers');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), String(CUSTOMERS));
      const check = await run(process.execPath, [BIN, 'check', '--config', join(dataDir, 'pgwarden.yaml')]);
      assert.equal(check.code, 0, check.stderr);
    } finally {
      await demo.close();
    }
  });
});

async function startBusyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
