/**
 * Data files are private to the gateway's OS user: another local user must not read the audit
 * log (statements, captured rows), the reviews or the JSON-lines sink. Checked on the files a real
 * gateway made — SQLite's -wal and -shm included, which SQLite creates with the database file's
 * mode — and on files an older version left readable, which are tightened when opened again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const root = mkdtempSync(join(tmpdir(), 'pgwarden-private-'));
const dir = join(root, 'data');
let t: TestGateway;

const mode = (p: string) => statSync(p).mode & 0o777;

before(async () => {
  // Left behind by an older version, world-readable.
  mkdirSync(join(root, 'old'), { recursive: true });
  writeFileSync(join(root, 'old', 'audit.jsonl'), '');
  chmodSync(join(root, 'old', 'audit.jsonl'), 0o644);
  t = await startTestGateway({
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}`, sinks: [{ jsonl: join(root, 'old', 'audit.jsonl') }] };
      raw.reviews = { store: `sqlite:${join(dir, 'reviews', 'reviews.db')}`, rules: [{ name: 'drops', when: ['drop'], approvers: { groups: ['dba'] } }] };
    },
  });
  const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'writer' })));
  await c.connect();
  await c.query('select 1');
  await c.end();
});
after(async () => {
  await t?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('data files', () => {
  it('are 0600 in 0700 directories', () => {
    assert.equal(mode(dir), 0o700, 'the data directory');
    assert.equal(mode(join(dir, 'reviews')), 0o700, 'the reviews directory');
    const files = ['audit.db', 'audit.db-wal', 'audit.db-shm', 'reviews/reviews.db', 'reviews/reviews.db-wal'].map((f) => join(dir, f));
    for (const f of files) {
      assert.ok(existsSync(f), `${f} exists`);
      assert.equal(mode(f).toString(8), '600', f);
    }
  });

  it('a sink file left world-readable is made private when opened again', () => {
    assert.equal(mode(join(root, 'old', 'audit.jsonl')).toString(8), '600');
  });
});
