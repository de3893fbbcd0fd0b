/**
 * `verify()`: walk every instance's chain in a store from its anchor and report the first bad
 * record; check each anchor against the retention record that set it, and the chain's end
 * against the signed head checkpoints given (see checkpoint.ts).
 */
import type { AuditStore } from '../store/audit-store.ts';
import { type ChainAnchor, type ChainHead, type ChainProblem, type StoredRecord, type VerifyResult, verifyChain } from './chain.ts';
import { anchorSigned, checkpointSigned, type Checkpoint } from './checkpoint.ts';

export interface VerifyOptions {
  /** Heads the chains must still reach: the latest checkpoints, or heads typed by the user. */
  checkpoints?: (Checkpoint & { /** Given by the user: no signature needed. */ trusted?: boolean })[];
  /** `audit.checkpoint_key`: checks the signatures of checkpoints and retention anchors. */
  key?: string;
}

interface Vouch {
  anchor: ChainAnchor;
  mac?: unknown;
  recordId: string;
}

export async function verifyStore(store: AuditStore, o: VerifyOptions = {}): Promise<VerifyResult> {
  const checkpoints = o.checkpoints ?? [];
  const instances = [...new Set([...(await store.instances()), ...checkpoints.map((c) => c.instance)])].sort();
  const warnings: string[] = [];
  const vouches = await retentionVouches(store);
  let records = 0;
  const fail = (problem: ChainProblem): VerifyResult => ({ ok: false, records, instances, problem, ...(warnings.length ? { warnings } : {}) });
  let unsignedAnchors = false;
  for (const instance of instances) {
    const anchor = await store.anchor(instance);
    if (anchor) {
      const all = vouches.get(instance) ?? [];
      const prefix = (message: string) => fail({ instance, kind: 'missing_prefix', seq: anchor.seq + 1, id: `${instance}:${anchor.seq + 1}`, message });
      if (all.length === 0) return prefix(`the chain starts after seq ${anchor.seq} at an anchor no retention record vouches for: its oldest records were deleted outside retention`);
      // Any retention record naming exactly this anchor will do: anchors only move forward, and
      // two gateways sharing a store may record their retention runs in either order.
      const v = all.find((x) => x.anchor.seq === anchor.seq && x.anchor.hash === anchor.hash && x.anchor.at === anchor.at);
      if (!v) {
        return prefix(`the chain's anchor (seq ${anchor.seq}) is not the one retention set (seq ${all[0].anchor.seq}, record ${all[0].recordId}): records were deleted outside retention`);
      }
      if (o.key && !anchorSigned(o.key, instance, v.anchor, v.mac)) return prefix(`the retention record ${v.recordId} that vouches for the anchor at seq ${anchor.seq} is not signed with audit.checkpoint_key`);
      if (!o.key) unsignedAnchors = true;
    }
    const wanted = checkpoints.filter((c) => c.instance === instance);
    for (const c of wanted) {
      if (c.trusted) continue;
      if (o.key && !checkpointSigned(o.key, c)) {
        return fail({ instance, kind: 'bad_checkpoint', seq: c.seq, id: `${instance}:${c.seq}`, message: `the checkpoint for seq ${c.seq} is not signed with audit.checkpoint_key: it cannot vouch for the log` });
      }
      if (!o.key && !c.mac) warnings.push(`the checkpoint for ${instance} seq ${c.seq} is not signed`);
    }
    if (!o.key && wanted.some((c) => !c.trusted && c.mac)) warnings.push('checkpoint signatures were not checked: no audit.checkpoint_key is configured');
    const hashAt = new Map<number, string | null>(wanted.map((c) => [c.seq, null]));
    // Pages are checked as one chain: the walk carries its position from page to page.
    let head: ChainHead | null = anchor ? { seq: anchor.seq, hash: anchor.hash } : null;
    let lastRow: StoredRecord | null = null;
    for await (const page of store.scan(instance)) {
      const rows = lastRow ? [lastRow, ...page] : page;
      const start: ChainHead | null = lastRow ? chainBefore(lastRow) : head;
      const { checked, problem } = verifyChain(instance, rows, start);
      records += lastRow ? checked - 1 : checked;
      if (problem) return fail(problem);
      for (const r of page) if (hashAt.has(r.seq)) hashAt.set(r.seq, r.hash);
      lastRow = page[page.length - 1];
      head = { seq: lastRow.seq, hash: lastRow.hash };
    }
    const end = lastRow?.seq ?? anchor?.seq ?? 0;
    for (const c of wanted) {
      if (c.seq > end) {
        const missing = c.seq - end;
        return fail({
          instance,
          kind: 'missing_tail',
          seq: end + 1,
          id: `${instance}:${end + 1}`,
          message: `the newest records were deleted: a checkpoint of ${c.at ? new Date(c.at).toISOString() : 'the expected head'} vouches for seq ${c.seq}, but the chain ends at seq ${end} (${missing} record${missing === 1 ? '' : 's'} missing)`,
        });
      }
      const at = c.seq === anchor?.seq ? anchor.hash : hashAt.get(c.seq);
      if (at === undefined || at === null) {
        if (anchor && c.seq < anchor.seq) continue; // deleted by retention since; the anchor was checked
        continue;
      }
      if (at !== c.hash) {
        return fail({ instance, kind: 'edited', seq: c.seq, id: `${instance}:${c.seq}`, message: `the record at seq ${c.seq} is not the one the checkpoint vouches for: the chain was rewritten` });
      }
    }
  }
  if (unsignedAnchors) warnings.push('retention anchor signatures were not checked: no audit.checkpoint_key is configured');
  return { ok: true, records, instances, ...(warnings.length ? { warnings } : {}) };
}

/** The retention records naming each instance's anchor, newest first. */
async function retentionVouches(store: AuditStore): Promise<Map<string, Vouch[]>> {
  const out = new Map<string, Vouch[]>();
  const events = await store.search({ types: ['event'], newest: true, limit: 100_000 });
  for (let i = events.length - 1; i >= 0; i--) {
    const data = (JSON.parse(events[i].body) as { data: { kind?: unknown; details?: { anchors?: Record<string, ChainAnchor & { mac?: unknown }> } } }).data;
    if (data.kind !== 'retention' || !data.details?.anchors) continue;
    for (const [instance, a] of Object.entries(data.details.anchors)) {
      const list = out.get(instance) ?? [];
      list.push({ anchor: { seq: a.seq, hash: a.hash, at: a.at }, mac: a.mac, recordId: events[i].id });
      out.set(instance, list);
    }
  }
  return out;
}

/** The position just before a record that has already been checked. */
function chainBefore(r: StoredRecord): ChainHead {
  return { seq: r.seq - 1, hash: r.prevHash };
}
