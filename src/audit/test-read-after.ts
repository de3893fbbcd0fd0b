/** `readAfter` cases every audit store must pass (used by the stores' tests). */
import assert from 'node:assert/strict';
import { GENESIS_HASH, seal, type StoredRecord } from './chain.ts';
import type { AuditStore } from '../store/audit-store.ts';

/** Two chains written interleaved (`${prefix}a` seq 1–10, `${prefix}b` seq 1–5), then a prefix of each deleted. */
export async function readAfterCases(store: AuditStore, prefix = 'ra-'): Promise<void> {
  const t0 = 1_000_000;
  const a = `${prefix}a`;
  const b = `${prefix}b`;
  const heads = new Map<string, string>([[a, GENESIS_HASH], [b, GENESIS_HASH]]);
  const make = (instance: string, seq: number): StoredRecord => {
    const r = seal({ id: `${instance}-${seq}`, instance, seq, at: t0 + seq, type: 'event', sessionId: null, data: { kind: 'test', text: "it's" } }, heads.get(instance) as string);
    heads.set(instance, r.hash);
    return r;
  };
  for (let seq = 1; seq <= 10; seq++) await store.append(seq <= 5 ? [make(a, seq), make(b, seq)] : [make(a, seq)]);
  const seqs = async (instance: string, after: number, limit: number) => (await store.readAfter(instance, after, limit)).map((r) => r.seq);
  assert.deepEqual(await seqs(a, 0, 3), [1, 2, 3], 'from the start, at most the limit');
  assert.deepEqual(await seqs(a, 3, 100), [4, 5, 6, 7, 8, 9, 10], 'after a seq, only this instance');
  assert.deepEqual(await seqs(b, 2, 2), [3, 4]);
  assert.deepEqual(await seqs(a, 10, 5), [], 'nothing after the head');
  assert.deepEqual(await seqs(`${prefix}none`, 0, 5), []);
  const [r] = await store.readAfter(a, 6, 1);
  assert.equal(r.id, `${a}-7`);
  assert.equal(r.prevHash, (await store.readAfter(a, 5, 1))[0].hash, 'whole records, links intact');
  assert.match(r.body, /"text":"it's"/);
  // Retention deletes a prefix: the gap shows as a jump in the seqs, never as a short page.
  await store.deleteBefore(t0 + 4);
  assert.deepEqual(await seqs(a, 0, 2), [4, 5]);
  assert.deepEqual(await seqs(b, 1, 10), [4, 5]);
}
