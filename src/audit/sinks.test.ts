import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../log.ts';
import { MemoryAuditStore } from '../store/memory-audit-store.ts';
import { linkHash } from './chain.ts';
import { JsonlFileSink } from './sinks.ts';
import { sessionStart, statement } from './test-events.ts';
import { AuditWriter } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-sink-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writerWith(sink: JsonlFileSink, store = new MemoryAuditStore()): AuditWriter {
  return AuditWriter.withHead({ store, instance: 'gw', logger: silentLogger(), sinks: [sink], groupCommitMs: 0, failClosed: true, captureResults: 'none', captureRows: 0, retentionMs: 0 });
}

describe('JSON-lines sink', () => {
  test('each committed record is one JSON line a SIEM can re-hash', async () => {
    const path = join(dir, 'a', 'audit.jsonl');
    const w = writerWith(new JsonlFileSink(path, undefined, 3, silentLogger()));
    await w.sessionStart(sessionStart('s1', 'erin'));
    await w.statement(statement('s1', 1, 'SELECT 1'));
    await w.close();
    const all = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // The last line is the head checkpoint written at close: it names the last record's hash.
    const checkpoint = all.pop()?.checkpoint as { instance: string; seq: number; hash: string };
    const lines = all;
    assert.deepEqual(lines.map((l) => l.type), ['session_start', 'statement']);
    assert.deepEqual([checkpoint.instance, checkpoint.seq, checkpoint.hash], ['gw', 2, lines[1].hash]);
    assert.equal((lines[1].data as { identity: { subject: string } }).identity.subject, 'erin');
    assert.match(String(lines[0].time), /^\d{4}-\d\d-\d\dT/);
    // The hash covers the line minus prevHash, hash and time, in canonical form.
    const { prevHash, hash, time: _time, ...content } = lines[1];
    const body = JSON.stringify(Object.fromEntries(Object.entries(content).sort(([a], [b]) => (a < b ? -1 : 1))));
    assert.equal(linkHash(String(prevHash), body), hash);
  });

  test('rotates by size and keeps the configured number of files', async () => {
    const path = join(dir, 'rot.jsonl');
    const w = writerWith(new JsonlFileSink(path, 2000, 2, silentLogger()));
    for (let i = 0; i < 40; i++) await w.statement(statement('s', i, `SELECT ${'y'.repeat(100)} ${i}`));
    await w.close();
    assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`), 'two rotated files');
    assert.ok(!existsSync(`${path}.3`), 'no third rotated file');
    for (const f of [path, `${path}.1`, `${path}.2`]) {
      const size = readFileSync(f).length;
      assert.ok(size <= 2000, `${f} is ${size} bytes, over the rotation size`);
      for (const l of readFileSync(f, 'utf8').trim().split('\n')) JSON.parse(l);
    }
    const last = readFileSync(path, 'utf8').trim().split('\n').filter((l) => !l.startsWith('{"checkpoint"')).pop() as string;
    assert.match(last, /SELECT y+ 39/);
  });

  test('a sink that cannot write never fails or delays the store commit', async () => {
    const store = new MemoryAuditStore();
    // A directory where the file should be: every open fails.
    const w = writerWith(new JsonlFileSink(dir, undefined, 1, silentLogger()), store);
    const id = await w.statement(statement('s', 1, 'SELECT 1'));
    await w.close();
    assert.equal(store.rows()[0]?.id, id);
  });
});
