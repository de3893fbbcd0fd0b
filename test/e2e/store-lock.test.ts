/**
 * A SQLite store belongs to one instance: a second gateway pointed at the same audit or review
 * file is refused at start, naming the file and the holder, and the first one goes on writing an
 * unbroken chain; `pgwarden audit search` and `verify` still read the file meanwhile; a lock left
 * by a process that died is taken over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { StoreLockedError, lockStoreFile } from '../../src/file-lock.ts';
import { pgwarden } from '../helpers/clients.ts';
import { allowEverything, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-lock-'));
const auditFile = join(dir, 'audit.db');
const reviewsFile = join(dir, 'reviews.db');
let first: TestGateway;

const stores = (raw: Record<string, any>, audit = auditFile, reviews = reviewsFile) => {
  raw.audit = { store: `sqlite:${audit}`, instance: 'first' };
  raw.reviews = { store: `sqlite:${reviews}`, rules: [{ name: 'drops', when: ['drop'], approvers: { groups: ['dba'] }, mode: 'defer' }] };
};

before(async () => {
  first = await startTestGateway({ config: (raw) => stores(raw) });
});

after(async () => {
  await first?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a SQLite store is locked to one instance', () => {
  it('refuses a second in-process gateway on the same audit file, naming the file and the holder', async () => {
    await assert.rejects(
      startTestGateway({ pg: first.pg, issuer: first.issuer, config: (raw) => stores(raw, auditFile, join(dir, 'other-reviews.db')) }),
      (err: Error) => {
        assert.ok(err instanceof StoreLockedError, String(err));
        assert.ok(err.message.includes(auditFile), err.message);
        assert.ok(err.message.includes(`pid ${process.pid}`), err.message);
        return true;
      },
    );
    // The other review file was opened and given back: nothing holds it now.
    assert.equal(existsSync(`${join(dir, 'other-reviews.db')}.lock`), false);
  });

  it('refuses a second gateway on the same review file, and gives its own audit file back', async () => {
    const ownAudit = join(dir, 'own-audit.db');
    await assert.rejects(
      startTestGateway({ pg: first.pg, issuer: first.issuer, config: (raw) => stores(raw, ownAudit, reviewsFile) }),
      (err: Error) => err instanceof StoreLockedError && err.message.includes(reviewsFile),
    );
    assert.equal(existsSync(`${ownAudit}.lock`), false, 'the refused gateway released the audit file it had locked');
  });

  it('refuses `pgwarden start` on the same file with a clear error, while the first keeps an unbroken chain', async () => {
    const token = await first.issuer.sign({ sub: 'agent' });
    const c = new pg.Client(first.client(token));
    await c.connect();
    await c.query('select 1');
    const config = join(dir, 'second.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        listen: { postgres: '127.0.0.1:0', http: '127.0.0.1:0' },
        upstreams: first.config.upstreams,
        identity: { issuers: [{ issuer: first.issuer.issuer, audience: first.issuer.audience }] },
        policies: [allowEverything([first.issuer.issuer])],
        audit: { store: `sqlite:${auditFile}`, instance: 'second' },
      }),
    );
    const second = spawn(process.execPath, [join(import.meta.dirname, '../../bin/pgwarden.mjs'), 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    second.stdout!.on('data', (d) => (out += d));
    second.stderr!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => second.kill('SIGKILL'), 20_000);
      second.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    // It exits by itself: what it opened before the refusal does not keep it alive.
    assert.equal(code, 1, `the second instance exited with ${code}: ${out}`);
    assert.match(out, new RegExp(`${auditFile.replaceAll('.', '\\.')} is in use by another pgwarden instance \\(pid ${process.pid}`));
    // The first goes on, and its chain is whole (the second wrote nothing).
    await c.query('select 2');
    await c.end();
    const verify = await pgwarden(['audit', 'verify', '--config', config]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /OK: \d+ records in 1 chain/, 'only the first instance wrote');
    const search = await pgwarden(['audit', 'search', '--config', config, '--text', 'select 2']);
    assert.equal(search.code, 0, search.stderr);
    assert.match(search.stdout, /select 2/);
  });

  it('a lock file names its holder; the same holder shares it, a dead holder is taken over', () => {
    const file = join(dir, 'unit.db');
    const a = lockStoreFile(file, { pid: process.pid, token: 'run-a' });
    // The workers of one run carry the same holder.
    const sibling = lockStoreFile(file, { pid: process.pid, token: 'run-a' });
    assert.throws(() => lockStoreFile(file, { pid: process.pid, token: 'run-b' }), StoreLockedError);
    sibling.release();
    assert.throws(() => lockStoreFile(file, { pid: process.pid, token: 'run-b' }), StoreLockedError, 'still held by the first');
    a.release();
    assert.equal(existsSync(`${file}.lock`), false);
    // A process that died (kill -9) left its lock behind.
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, token: 'gone' }));
    const b = lockStoreFile(file, { pid: process.pid, token: 'run-b' });
    assert.deepEqual(JSON.parse(readFileSync(`${file}.lock`, 'utf8')), { pid: process.pid, token: 'run-b' });
    b.release();
  });
});
