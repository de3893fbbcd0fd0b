/** `verify()`: walk every instance's chain in a store from its anchor and report the first bad record. */
import type { AuditStore } from '../store/audit-store.ts';
import { type ChainHead, type StoredRecord, type VerifyResult, verifyChain } from './chain.ts';

export async function verifyStore(store: AuditStore): Promise<VerifyResult> {
  const instances = await store.instances();
  let records = 0;
  for (const instance of instances) {
    const anchor = await store.anchor(instance);
    // Pages are checked as one chain: the walk carries its position from page to page.
    let head: ChainHead | null = anchor ? { seq: anchor.seq, hash: anchor.hash } : null;
    let lastRow: StoredRecord | null = null;
    for await (const page of store.scan(instance)) {
      const rows = lastRow ? [lastRow, ...page] : page;
      const start: ChainHead | null = lastRow ? chainBefore(lastRow) : head;
      const { checked, problem } = verifyChain(instance, rows, start);
      records += lastRow ? checked - 1 : checked;
      if (problem) return { ok: false, records, instances, problem };
      lastRow = page[page.length - 1];
      head = { seq: lastRow.seq, hash: lastRow.hash };
    }
  }
  return { ok: true, records, instances };
}

/** The position just before a record that has already been checked. */
function chainBefore(r: StoredRecord): ChainHead {
  return { seq: r.seq - 1, hash: r.prevHash };
}

