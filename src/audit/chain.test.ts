import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GENESIS_HASH, canonicalJson, linkHash, recordBody, seal, verifyChain, type StoredRecord } from './chain.ts';
import { memoryAudit } from './memory.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { verifyStore } from './verify.ts';

function chainOf(n: number): StoredRecord[] {
  const out: StoredRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const r = seal({ id: `r${seq}`, instance: 'gw', seq, at: 1000 + seq, type: 'event', sessionId: null, data: { kind: 'x', details: { n: seq } } }, prev);
    out.push(r);
    prev = r.hash;
  }
  return out;
}

describe('canonical JSON', () => {
  const cases: [string, unknown, string][] = [
    ['keys are sorted at every level', { b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } }, '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}'],
    ['undefined members are left out', { a: undefined, b: 'x' }, '{"b":"x"}'],
    ['buffers become base64', { b: Buffer.from('hi') }, '{"b":"aGk="}'],
    ['non-finite numbers become null', { n: Number.NaN }, '{"n":null}'],
  ];
  for (const [name, value, want] of cases) test(name, () => assert.equal(canonicalJson(value), want));

  test('the writer’s body matches canonicalJson of the whole record', () => {
    const content = { id: 'x', instance: 'gw', seq: 3, at: 5, type: 'event' as const, sessionId: null, data: { kind: 'k', details: {} } };
    assert.equal(recordBody(content), canonicalJson(content));
  });
});

describe('verifyChain', () => {
  test('an untouched chain verifies', () => {
    const r = verifyChain('gw', chainOf(5), null);
    assert.equal(r.problem, null);
    assert.equal(r.checked, 5);
  });

  test('an edited body is named as edited', () => {
    const rows = chainOf(5);
    rows[2] = { ...rows[2], body: rows[2].body.replace('"n":3', '"n":4') };
    assert.deepEqual(pick(verifyChain('gw', rows, null).problem), { kind: 'edited', seq: 3, id: 'r3' });
  });

  test('an edited and re-hashed record is named by the broken link after it', () => {
    const rows = chainOf(5);
    const body = rows[1].body.replace('"n":2', '"n":9');
    rows[1] = { ...rows[1], body, hash: linkHash(rows[1].prevHash, body) };
    assert.deepEqual(pick(verifyChain('gw', rows, null).problem), { kind: 'edited', seq: 2, id: 'r2' });
  });

  test('a removed record is reported at the gap', () => {
    const rows = chainOf(5);
    rows.splice(2, 1);
    const p = verifyChain('gw', rows, null).problem;
    assert.deepEqual(pick(p), { kind: 'removed', seq: 4, id: 'r4' });
    assert.match(p?.message ?? '', /seq 3 is missing/);
  });

  test('two records swapped in place are reported as reordered', () => {
    const rows = chainOf(5);
    // The stored seq column stays in place; the contents trade places.
    const a = rows[1];
    const b = rows[2];
    rows[1] = { ...b, seq: a.seq };
    rows[2] = { ...a, seq: b.seq };
    assert.deepEqual(pick(verifyChain('gw', rows, null).problem), { kind: 'reordered', seq: 2, id: 'r3' });
  });

  test('a chain cut by retention verifies from its anchor, and not without it', () => {
    const rows = chainOf(5);
    const rest = rows.slice(3);
    assert.equal(verifyChain('gw', rest, { seq: 3, hash: rows[2].hash }).problem, null);
    assert.equal(verifyChain('gw', rest, null).problem?.kind, 'removed');
  });

  test('a searchable column that disagrees with the hashed body is an edit', () => {
    const s = seal({ id: 's1', instance: 'gw', seq: 1, at: 1, type: 'statement', sessionId: 'x', data: { text: 'DELETE FROM t', decision: { verdict: 'deny' } } }, GENESIS_HASH);
    assert.equal(verifyChain('gw', [s], null).problem, null);
    assert.equal(verifyChain('gw', [{ ...s, verdict: 'allow' }], null).problem?.kind, 'edited');
  });
});

function pick(p: { kind: string; seq: number; id: string } | null) {
  return p && { kind: p.kind, seq: p.seq, id: p.id };
}

describe('the memory audit writer', () => {
  test('every event type lands on one verifiable chain with identity on statements', async () => {
    const audit = memoryAudit();
    await audit.sessionStart(sessionStart('s1', 'bob'));
    const id = await audit.statement(statement('s1', 1, 'SELECT * FROM orders'));
    audit.statementEnd(statementEnd(id, 's1', { capture: { columns: ['id'], rows: [['1']], truncated: false } }));
    audit.event({ kind: 'config_reload', at: Date.now(), details: { version: 2 } });
    audit.sessionEnd({ sessionId: 's1', at: Date.now(), reason: 'client closed' });
    await audit.flush();
    const recs = audit.records();
    assert.deepEqual(recs.map((r) => r.type), ['session_start', 'statement', 'statement_end', 'event', 'session_end']);
    assert.deepEqual(recs.map((r) => r.seq), [1, 2, 3, 4, 5]);
    const st = recs[1].data as { identity: { subject: string }; bytesSha256: string; bytes: string };
    assert.equal(st.identity.subject, 'bob');
    assert.equal(Buffer.from(st.bytes, 'base64').toString('latin1').slice(5), 'SELECT * FROM orders\0');
    assert.equal(st.bytesSha256.length, 64);
    const v = await verifyStore(audit.store);
    assert.equal(v.ok, true, `verify: ${v.problem?.message}`);
    assert.equal(v.records, 5);
    await audit.close();
  });

  test('captured rows are capped at capture_rows and marked truncated', async () => {
    const audit = memoryAudit({ captureRows: 2 });
    const id = await audit.statement(statement('s', 1, 'SELECT 1'));
    audit.statementEnd(statementEnd(id, 's', { capture: { columns: ['n'], rows: [['1'], ['2'], ['3']], truncated: false } }));
    await audit.flush();
    const cap = audit.records()[1].data.capture as { rows: unknown[]; truncated: boolean };
    assert.equal(cap.rows.length, 2);
    assert.equal(cap.truncated, true);
  });

  test('with capture_results none, nothing of the result is kept', async () => {
    const audit = memoryAudit({ captureResults: 'none' });
    const id = await audit.statement(statement('s', 1, 'SELECT 1'));
    audit.statementEnd(statementEnd(id, 's', { capture: { columns: ['n'], rows: [['1']], truncated: false } }));
    await audit.flush();
    assert.equal(audit.records()[1].data.capture, undefined);
  });
});

describe('the statement fast path', () => {
  test('statement and outcome data are stored in canonical form even from unsorted inputs', async () => {
    const audit = memoryAudit();
    await audit.sessionStart(sessionStart('s1', 'zed'));
    const id = await audit.statement(
      statement('s1', 1, 'SELECT 1', {
        params: ['1', null],
        name: 'p1',
        decision: { verdict: 'review', rule: 'destructive', reviewId: 'rv1', message: 'held' },
        analysis: { tables: ['public.t'], command: 'select', class: 'read' },
      }),
    );
    audit.statementEnd({ rows: 2, id, sessionId: 's1', at: 5, durationMs: 1, error: { sqlstate: '42501', message: 'no' }, capture: { truncated: false, rows: [['1']], columns: ['a'] } });
    await audit.flush();
    for (const row of audit.store.rows()) {
      const parsed = JSON.parse(row.body) as Record<string, unknown>;
      assert.equal(row.body, canonicalJson(parsed), `the ${row.type} body is canonical JSON`);
    }
  });
});
