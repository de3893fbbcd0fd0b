/**
 * One identity cannot stall the gateway or grow its memory: a statement over
 * limits.max_statement_size is refused with 54000 before a byte of it is buffered or parsed (the
 * session goes on, with pg and with psql); unfinished messages count against the bytes the gateway
 * holds per identity, and past that cap the connection ends with 53400 and its bytes are released.
 * While an identity with no table grants floods the gateway with both on several connections,
 * another session's `select 1` round trips stay fast and the process's memory comes back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startTestGateway, allowEverything, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeQuery } from '../../src/protocol/index.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let t: TestGateway;
let dir: string;
const MiB = 1024 * 1024;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      const issuer = raw.identity.issuers[0].issuer;
      raw.policies = [
        { ...allowEverything([issuer]), match: { subjects: ['victim'] } },
        // The hog may connect but reads no table.
        { name: 'no-tables', match: { subjects: ['hog', 'hog-oversized'] }, allow: [{ functions: ['pg_catalog.now'] }] },
      ];
    },
  });
  t.pg.psql('create table t (id int primary key, body text)', 'app');
  t.pg.psql('grant all on t to gw_app', 'app');
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-limits-'));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t?.stop();
});

/** A statement of `bytes` bytes: one long string literal. */
function bigStatement(bytes: number): string {
  return `select length('${'x'.repeat(bytes - 30)}')`;
}

describe('a statement over limits.max_statement_size', () => {
  it('is refused with 54000 naming the limit, and the pg session goes on (simple and extended protocol)', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'victim' })));
    await c.connect();
    try {
      for (const size of [MiB + 100, 3 * MiB, 20 * MiB]) {
        await assert.rejects(c.query(bigStatement(size)), (e: any) => e.code === '54000' && /exceeds the limit of 1048576 bytes \(limits\.max_statement_size\)/.test(e.message) && /max_statement_size/.test(e.hint));
        assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
        await assert.rejects(c.query({ text: bigStatement(size) + ' where $1::int = 1', values: [1] }), (e: any) => e.code === '54000');
        assert.deepEqual((await c.query({ text: 'select $1::int as n', values: [7] })).rows, [{ n: 7 }]);
      }
      // Inside a transaction block the refusal aborts it, as an error there does in PostgreSQL.
      await c.query('begin');
      await c.query("insert into t values (1, 'kept?')");
      await assert.rejects(c.query(bigStatement(2 * MiB)), (e: any) => e.code === '54000');
      await assert.rejects(c.query('select 1'), (e: any) => e.code === '25P02');
      await c.query('rollback');
      assert.deepEqual((await c.query('select count(*)::int as n from t')).rows, [{ n: 0 }]);
    } finally {
      await c.end();
    }
  });

  it('a statement just under the limit runs (parsed off the event loop)', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'victim' })));
    await c.connect();
    try {
      const r = await c.query(bigStatement(MiB - 100));
      assert.equal(r.rows[0].length, MiB - 130);
    } finally {
      await c.end();
    }
  });

  it('psql sees the 54000 error and runs the next statement', async () => {
    const file = join(dir, 'big.sql');
    writeFileSync(file, `${bigStatement(2 * MiB)};\nselect 40 + 2;\n`);
    const r = await psql(t.url(await t.issuer.sign({ sub: 'victim' })), null, ['-v', 'ON_ERROR_STOP=0', '-f', file]);
    assert.match(r.stderr, /ERROR: {2}pgwarden: the statement \(a message of \d+ bytes\) exceeds the limit of 1048576 bytes \(limits\.max_statement_size\)/);
    assert.match(r.stdout, /^42$/m);
  });

  it('COPY of a row larger than the statement limit still flows', async () => {
    const file = join(dir, 'row.csv');
    writeFileSync(file, `2,${'y'.repeat(5 * MiB)}\n`);
    const url = t.url(await t.issuer.sign({ sub: 'victim' }));
    const r = await psql(url, `\\copy t from '${file}' with (format csv)`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await psql(url, 'select length(body) from t where id = 2')).stdout.trim(), String(5 * MiB));
    await psql(url, 'delete from t');
  });
});

function rss(): number {
  return process.memoryUsage().rss;
}

interface FloodResult {
  kind: 'oversized' | 'partial';
  closed: boolean;
  errors: Record<string, string>[];
  written: number;
  refusedThenWorked?: boolean;
}

/** A dense statement of about `bytes` bytes: a VALUES list of constants (some 1.25 parse-tree nodes a byte). */
function denseStatement(bytes: number): string {
  return `select count(*) from (values ${'(1),'.repeat(Math.floor((bytes - 60) / 4))}(1)) v(x)`;
}

describe('a statement whose parse tree is over limits.max_statement_nodes', () => {
  it('is refused with 54000 naming the limit before its tree is read, and the session goes on (pg, both protocols)', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'victim' })));
    await c.connect();
    try {
      for (const size of [48 * 1024, MiB - 100]) {
        await assert.rejects(c.query(denseStatement(size)), (e: any) => e.code === '54000' && /parse tree has \d+ nodes, over the limit of 50000 \(limits\.max_statement_nodes\)/.test(e.message) && /max_statement_nodes/.test(e.hint));
        assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
        await assert.rejects(c.query({ text: `${denseStatement(size)} where $1::int = 1`, values: [1] }), (e: any) => e.code === '54000');
        assert.deepEqual((await c.query({ text: 'select $1::int as n', values: [7] })).rows, [{ n: 7 }]);
      }
      // Many small statements in one text count together; so does a long select list.
      await assert.rejects(c.query('select 1;'.repeat(20_000)), (e: any) => e.code === '54000');
      await assert.rejects(c.query(`select ${'1,'.repeat(30_000)}1`), (e: any) => e.code === '54000');
      // Under the limit (and over 16 KiB, so counted): runs.
      const r = await c.query(denseStatement(32 * 1024));
      assert.equal(r.rows[0].count, String(Math.floor((32 * 1024 - 60) / 4) + 1));
    } finally {
      await c.end();
    }
  });

  it("other sessions' select 1 stays fast while one identity sends dense statements just under the limit", async () => {
    // What the statements cost the event loop depends on the machine's other work at that moment:
    // a missed bound is measured once more.
    const first = await denseFlood();
    if (first === null) return;
    const second = await denseFlood();
    assert.equal(second, null, `first attempt: ${first}`);
  });

  async function denseFlood(): Promise<string | null> {
    const victim = new pg.Client(t.client(await t.issuer.sign({ sub: 'victim' })));
    await victim.connect();
    const hogToken = await t.issuer.sign({ sub: 'hog' });
    const hogs = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(t.port, hogToken)));
    try {
      for (let i = 0; i < 50; i++) await victim.query('select 1');
      const quiet: number[] = [];
      for (let i = 0; i < 200; i++) {
        const s = performance.now();
        await victim.query('select 1');
        quiet.push(performance.now() - s);
      }
      quiet.sort((a, b) => a - b);
      const quietP99 = quiet[Math.floor(quiet.length * 0.99)];
      // Each text just under the limit (some 47 000 nodes), a new one each time (no cache).
      let stop = false;
      let sent = 0;
      const loops = hogs.map(async (h, k) => {
        while (!stop) {
          h.send(encodeQuery(`${denseStatement(37 * 1024)} where ${k * 1_000_000 + sent++} > 0`));
          const got = await h.until('Z', 10_000);
          const err = got.find((m) => m.tag === 'E');
          if (err) throw new Error(`a statement under the limit was refused: ${err.fields?.C} ${err.fields?.M}`);
        }
      });
      const latencies: number[] = [];
      try {
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          const s = performance.now();
          await victim.query('select 1');
          latencies.push(performance.now() - s);
        }
      } finally {
        stop = true;
        await Promise.all(loops);
      }
      assert.ok(sent >= 8, `the hog's statements ran (${sent})`);
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.floor(latencies.length * 0.99)];
      // Off the loop, each dense statement still costs the event loop the reading of its tree
      // (JSON.parse of some 660 000 characters and the analysis: 15-40 ms on two busy cores), so
      // select 1 may wait behind one per hog; parsed on the loop, each would cost 60-100 ms more,
      // and the p99 is then several times this bound.
      const bound = Math.max(100, 3 * quietP99);
      return p99 < bound ? null : `select 1 p99 ${p99.toFixed(1)} ms, bound ${bound.toFixed(1)} ms (quiet p99 ${quietP99.toFixed(1)} ms; max ${latencies[latencies.length - 1].toFixed(1)} ms over ${latencies.length} round trips, ${sent} dense statements)`;
    } finally {
      for (const h of hogs) h.end();
      await victim.end();
    }
  }
});

describe('a client flooding with oversized and unfinished statements', () => {
  it('neither stalls another session nor keeps the memory it made the gateway hold', async () => {
    // The latency and memory bounds depend on what else the machine runs at that moment (a CI
    // run of the whole suite on two cores): a missed bound is measured once more, and the test
    // fails when the second flood misses one too. Refusals and limits are checked every time.
    const first = await floodOnce();
    if (first.length === 0) return;
    const second = await floodOnce();
    assert.deepEqual(second, [], `first attempt: ${first.join('; ')}`);
  });

  async function floodOnce(): Promise<string[]> {
    const soft: string[] = [];
    const victim = new pg.Client(t.client(await t.issuer.sign({ sub: 'victim' })));
    await victim.connect();
    const hogToken = await t.issuer.sign({ sub: 'hog' });
    // The oversized statements come from an identity of their own: the hog's cap ends whichever
    // connection takes it over the limit, and under load that could be one still receiving its
    // oversized statement (which the gateway holds up to the statement limit before refusing it).
    const bigToken = await t.issuer.sign({ sub: 'hog-oversized' });
    let child: ChildProcess | null = null;
    let sampler: NodeJS.Timeout | undefined;
    try {
      for (let i = 0; i < 50; i++) await victim.query('select 1');
      // The same round trip without the flood: on a machine busy with other work (a CI run of the
      // whole suite on two cores) the bound below scales with what the machine gives any query.
      const quiet: number[] = [];
      for (let i = 0; i < 200; i++) {
        const s = performance.now();
        await victim.query('select 1');
        quiet.push(performance.now() - s);
      }
      quiet.sort((a, b) => a - b);
      const quietP99 = quiet[Math.floor(quiet.length * 0.99)];
      gc();
      const baseline = rss();
      const baselineBuffers = process.memoryUsage().arrayBuffers;
      let peak = baseline;
      sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);

      // The hog's clients run in a process of their own: only the gateway's work and memory are here.
      const w = fork(fileURLToPath(new URL('./flood-client.mjs', import.meta.url)), [JSON.stringify({ port: t.port, token: hogToken, oversizedToken: bigToken, rounds: 1 })], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child = w;
      const result = new Promise<FloodResult[]>((resolve, reject) => {
        w.once('message', (m: { conns: FloodResult[] }) => resolve(m.conns));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`the flood client exited (${code})`)));
      });
      let flooding = true;
      void result.finally(() => (flooding = false));

      const latencies: number[] = [];
      while (flooding || latencies.length < 200) {
        const s = performance.now();
        await victim.query('select 1');
        latencies.push(performance.now() - s);
        if (latencies.length > 20_000) break;
      }
      const conns = await result;

      // Each oversized statement was refused with 54000, and its session went on.
      const oversized = conns.filter((c) => c.kind === 'oversized');
      assert.equal(oversized.length, 6);
      for (const c of oversized) {
        assert.equal(c.refusedThenWorked, true, JSON.stringify({ closed: c.closed, errors: c.errors }));
        assert.equal(c.errors[0]?.C, '54000');
      }
      // The identity's cap ended the unfinished connections that took it over the limit, with
      // 53400: what the still open ones hold is within the cap.
      const partial = conns.filter((c) => c.kind === 'partial');
      const ended = partial.filter((c) => c.closed);
      const stillHeld = partial.filter((c) => !c.closed).reduce((n, c) => n + c.written, 0);
      assert.ok(stillHeld <= 64 * MiB + MiB, `open connections of the hog hold ${(stillHeld / MiB).toFixed(0)} MiB`);
      assert.ok(ended.length >= 2, `connections over the identity's budget were ended (${ended.length})`);
      const fatal = ended.flatMap((c) => c.errors).find((e) => e.C === '53400');
      assert.ok(fatal, 'a 53400 FATAL reached the client');
      assert.equal(fatal.S, 'FATAL');
      assert.match(fatal.M, /holds at most 67108864 bytes of unfinished or queued messages for hog \(limits\.max_buffered_per_identity\)/);

      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.floor(latencies.length * 0.99)];
      const max = latencies[latencies.length - 1];
      // Off the loop, each dense statement still costs the event loop the reading of its tree
      // (JSON.parse of some 660 000 characters and the analysis: 15-40 ms on two busy cores), so
      // select 1 may wait behind one per hog; parsed on the loop, each would cost 60-100 ms more,
      // and the p99 is then several times this bound.
      const bound = Math.max(100, 3 * quietP99);
      if (!(p99 < bound)) soft.push(`select 1 p99 ${p99.toFixed(1)} ms, bound ${bound.toFixed(1)} ms (quiet p99 ${quietP99.toFixed(1)} ms; max ${max.toFixed(1)} ms over ${latencies.length} round trips)`);

      // While flooding, the gateway held at most about the identity's cap (64 MiB) more.
      if (!(peak - baseline < 200 * MiB)) soft.push(`RSS grew by ${((peak - baseline) / MiB).toFixed(0)} MiB`);
      const exited = new Promise((r) => w.once('exit', r));
      w.send('close');
      await exited;
      child = null;
      await new Promise((r) => setTimeout(r, 500));
      gc();
      await new Promise((r) => setTimeout(r, 200));
      gc();
      clearInterval(sampler);
      const end = rss();
      // The buffers the flood made the gateway hold are released: what V8 and Node account for
      // buffers is back near where it started. RSS itself need not shrink (the allocator may keep
      // freed pages), so it is held to a looser bound: not above what the caps allow.
      const buffers = process.memoryUsage().arrayBuffers - baselineBuffers;
      if (!(buffers < 16 * MiB)) soft.push(`${(buffers / MiB).toFixed(0)} MiB of buffers still held after the flood`);
      if (!(end - baseline < 128 * MiB)) soft.push(`RSS came back to ${((end - baseline) / MiB).toFixed(0)} MiB above its baseline (peak +${((peak - baseline) / MiB).toFixed(0)} MiB)`);
      // A new session of the hog's works: nothing of the flood is counted against it any more.
      const again = await RawClient.connect(t.port, hogToken);
      again.send(encodeQuery('select now()'));
      await again.until('Z', 5000);
      assert.equal(again.closed, false);
      again.end();
    } finally {
      clearInterval(sampler);
      child?.kill();
      await victim.end();
    }
    return soft;
  }
});
