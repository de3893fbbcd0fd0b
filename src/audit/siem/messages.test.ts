/** The exporters' encodings, the cursor file and the retry delays, as pure functions. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GENESIS_HASH, seal } from '../chain.ts';
import { latestCheckpoints, makeCheckpoint } from '../checkpoint.ts';
import { retryDelay } from './backoff.ts';
import { readCursor, writeCursor } from './cursor.ts';
import { bulkFailure, checkpointItem, gapItem, httpChunk, itemJson, octetFrame, recordItem, syslogMessage } from './messages.ts';

const record = seal({ id: 'r1', instance: 'gw"1]', seq: 7, at: Date.UTC(2026, 0, 2, 3, 4, 5, 678), type: 'statement', sessionId: 's1', data: { text: 'SELECT \'é\' -- ]"\\', decision: { verdict: 'deny' } } }, GENESIS_HASH);
const allowed = seal({ id: 'r2', instance: 'gw1', seq: 8, at: 1000, type: 'session_end', sessionId: 's1', data: {} }, record.hash);
const cp = makeCheckpoint('gw1', { seq: 8, hash: allowed.hash }, 2000, 'k'.repeat(32));
const fields = { facility: 13, hostname: 'gw-host', procId: 42, sdId: 'pgwarden@32473' };

describe('syslog messages (RFC 5424, octet counting)', () => {
  const cases: { name: string; item: ReturnType<typeof recordItem>; header: string }[] = [
    { name: 'a refused statement: severity notice, SD values escaped', item: recordItem(record), header: '<109>1 2026-01-02T03:04:05.678Z gw-host pgwarden 42 statement [pgwarden@32473 id="r1" instance="gw\\"1\\]" seq="7" type="statement"] ' },
    { name: 'another record: severity info', item: recordItem(allowed), header: '<110>1 1970-01-01T00:00:01.000Z gw-host pgwarden 42 session_end [pgwarden@32473 id="r2" instance="gw1" seq="8" type="session_end"] ' },
    { name: 'a checkpoint: its own type, the seq it covers', item: checkpointItem(cp), header: `<109>1 1970-01-01T00:00:02.000Z gw-host pgwarden 42 checkpoint [pgwarden@32473 id="checkpoint:gw1:8:2000" instance="gw1" seq="8" type="checkpoint"] ` },
    { name: 'a gap: severity warning, its last seq', item: gapItem({ instance: 'gw1', from: 3, to: 5, reason: 'deleted by retention before they were exported', at: 3000 }), header: '<108>1 1970-01-01T00:00:03.000Z gw-host pgwarden 42 gap [pgwarden@32473 id="gap:gw1:3-5" instance="gw1" seq="5" type="gap"] ' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const msg = syslogMessage(c.item, fields);
      assert.equal(msg.slice(0, c.header.length), c.header);
      assert.equal(msg.slice(c.header.length, c.header.length + 1), '\uFEFF', 'MSG starts with a BOM (UTF-8)');
      assert.deepEqual(JSON.parse(msg.slice(c.header.length + 1)), JSON.parse(itemJson(c.item)));
      const frame = octetFrame(msg);
      const sp = frame.indexOf(0x20);
      assert.equal(Number(frame.subarray(0, sp).toString()), Buffer.byteLength(msg), 'the count is in bytes, not characters');
      assert.equal(frame.subarray(sp + 1).toString('utf8'), msg);
    });
  }
  test('a host name syslog cannot carry becomes the NILVALUE', () => {
    assert.match(syslogMessage(recordItem(allowed), { ...fields, hostname: 'bad host' }), /^<110>1 \S+ - pgwarden /);
  });
});

describe('item JSON', () => {
  test('a record is its JSON-lines sink line: the hashed body fields, prevHash, hash, time', () => {
    const j = JSON.parse(itemJson(recordItem(record)));
    assert.equal(j.id, 'r1');
    assert.equal(j.hash, record.hash);
    assert.equal(j.prevHash, GENESIS_HASH);
    assert.equal(j.time, '2026-01-02T03:04:05.678Z');
    assert.equal(j.data.text, 'SELECT \'é\' -- ]"\\');
  });
  test('exported checkpoints are read back by audit verify --checkpoint', () => {
    const lines = [itemJson(recordItem(allowed)), itemJson(checkpointItem(cp))].join('\n');
    assert.deepEqual(latestCheckpoints(lines), [cp]);
  });
});

describe('HTTP batches', () => {
  test('splunk_hec: time in seconds, host, source, sourcetype, optional index, the item as event', () => {
    const line = httpChunk(recordItem(record), { format: 'splunk_hec', hostname: 'h', source: 'src', sourcetype: 'st', index: 'audit' });
    assert.ok(line.endsWith('}\n'));
    const e = JSON.parse(line);
    assert.deepEqual(Object.keys(e), ['time', 'host', 'source', 'sourcetype', 'index', 'event']);
    assert.equal(e.time, 1767323045.678);
    assert.deepEqual(e.event, JSON.parse(itemJson(recordItem(record))));
  });
  test('elastic_bulk: create with the item id as _id, then the document with @timestamp', () => {
    const [action, doc, rest] = httpChunk(checkpointItem(cp), { format: 'elastic_bulk', hostname: 'h' }).split('\n');
    assert.deepEqual(JSON.parse(action), { create: { _index: 'pgwarden-audit', _id: 'checkpoint:gw1:8:2000' } });
    assert.equal(JSON.parse(doc)['@timestamp'], '1970-01-01T00:00:02.000Z');
    assert.deepEqual(JSON.parse(doc).checkpoint, cp);
    assert.equal(rest, '');
  });
  test('ndjson: the item JSON and a newline', () => {
    assert.equal(httpChunk(recordItem(allowed), { format: 'ndjson', hostname: 'h' }), `${itemJson(recordItem(allowed))}\n`);
  });
  const bulk: [string, string, string | null][] = [
    ['no errors', '{"errors":false,"items":[]}', null],
    ['duplicates only (409): already there', '{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}', null],
    ['a refused document', '{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}]}', 'an item was refused with status 400 (mapper_parsing_exception: bad field)'],
    ['too many requests for an item', '{"errors":true,"items":[{"create":{"status":429}}]}', 'an item was refused with status 429 (no reason given)'],
    ['not JSON', '<html>', 'the _bulk response is not JSON'],
    ['errors but no items', '{"errors":true}', 'the _bulk response has no items'],
  ];
  for (const [name, body, want] of bulk) test(`_bulk response: ${name}`, () => assert.equal(bulkFailure(body), want));
});

describe('retry delays', () => {
  test('double from the initial delay, capped, half fixed and half random', () => {
    const at = (attempt: number, r: number) => retryDelay(attempt, 500, 60_000, () => r);
    assert.deepEqual([1, 2, 3, 4].map((a) => at(a, 1)), [500, 1000, 2000, 4000]);
    assert.deepEqual([1, 2, 3, 4].map((a) => at(a, 0)), [250, 500, 1000, 2000]);
    assert.equal(at(20, 1), 60_000);
    assert.equal(at(20, 0), 30_000);
    assert.equal(at(10_000, 1), 60_000, 'no overflow after many failures');
  });
});

describe('cursor file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-cursor-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  test('written whole, private, and read back', () => {
    const path = join(dir, 'sub', 'siem-x.cursor');
    assert.deepEqual(readCursor(path), { state: null });
    writeCursor(path, { instances: { gw1: { seq: 12 }, old: { seq: 3 } }, checkpoints: [cp] });
    assert.deepEqual(readCursor(path), { state: { instances: { gw1: { seq: 12 }, old: { seq: 3 } }, checkpoints: [cp] } });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
  });
  const bad: [string, string][] = [
    ['not JSON', '{'],
    ['another version', '{"v":2,"instances":{},"checkpoints":[]}'],
    ['a negative seq', '{"v":1,"instances":{"gw1":{"seq":-1}},"checkpoints":[]}'],
    ['a malformed checkpoint', '{"v":1,"instances":{},"checkpoints":[{"seq":1}]}'],
  ];
  for (const [name, text] of bad) {
    test(`a file that is not a cursor (${name}) is reported, never half-read`, () => {
      const path = join(dir, `bad-${name.replace(/\W/g, '')}.cursor`);
      writeFileSync(path, text);
      const r = readCursor(path);
      assert.equal(r.state, null);
      assert.match((r as { problem?: string }).problem ?? '', /is not a cursor file/);
    });
  }
});
