/**
 * `verifyJournal()`: check the journal's own hash chain, then that the index agrees with it.
 *
 * The journal is walked like a stored chain (every line's hash, seq and link). Its start must be
 * seq 1 on the genesis link, or an anchor a `retention` record vouches for, or the anchor its
 * first record names as the place where it took up an older log (`journal_started`, written when
 * a journal begins on an existing store); both signed when a key is configured. Then journal and index are walked side by side: a record
 * in both must be byte for byte the same (body, hash, link); a record the journal holds within
 * the index's range but the index lacks was removed from the index; one the index holds beyond
 * the journal was added to it. Records the journal holds past the index's last one are the
 * index's lag (the gateway feeds them, and catches up at its next start): a warning, not a failure.
 */
import type { AuditStore } from '../store/audit-store.ts';
import type { ChainHead, StoredRecord } from '../store/record.ts';
import { GENESIS_HASH, verifyChain, type ChainProblem, type VerifyResult } from './chain.ts';
import { anchorSigned } from './checkpoint.ts';
import type { Journal } from './journal.ts';

interface JournalVouch {
  seq: number;
  hash: string;
  at: number;
  mac?: unknown;
  recordId: string;
}

async function* each(pages: AsyncIterable<StoredRecord[]>): AsyncGenerator<StoredRecord> {
  for await (const page of pages) yield* page;
}

/** Check `journal` and its agreement with `store`, adding to the index's verify result. */
export async function verifyJournal(journal: Journal, store: AuditStore, index: VerifyResult, o: { key?: string } = {}): Promise<VerifyResult> {
  const warnings = [...(index.warnings ?? [])];
  const done = (problem: ChainProblem | null, records: number, lag: number): VerifyResult => ({
    ...index,
    ok: problem === null,
    ...(problem ? { problem } : {}),
    journal: { location: journal.location, records, lag },
    ...(warnings.length ? { warnings } : {}),
  });
  const start = journal.start();
  const head = journal.head();
  if (!start || !head || head.seq === start.seq) return done(null, 0, 0);

  // 1. The journal's own chain, page after page, collecting what retention vouched for. Every
  // line is read (from seq -1): a line claiming a seq before the journal's start is out of place.
  let instance = '';
  let records = 0;
  const vouches: JournalVouch[] = [];
  let first: StoredRecord | null = null;
  let from: ChainHead | null = start.seq === 0 && start.hash === GENESIS_HASH ? null : start;
  let last: StoredRecord | null = null;
  for await (const page of journal.read(-1)) {
    instance ||= page.find((r) => r.instance)?.instance ?? '';
    const rows = last ? [last, ...page] : page;
    const { checked, problem } = verifyChain(instance, rows, last ? { seq: last.seq - 1, hash: last.prevHash } : from);
    records += last ? checked - 1 : checked;
    if (problem) return done({ ...problem, message: `journal: ${problem.message}` }, records, 0);
    first ??= page[0];
    for (const r of page) {
      if (r.type !== 'event' || !r.body.includes('"retention"')) continue;
      const data = (JSON.parse(r.body) as { data: { kind?: unknown; details?: { journal?: JournalVouch } } }).data;
      const j = data.details?.journal;
      if (data.kind === 'retention' && j) vouches.push({ seq: j.seq, hash: j.hash, at: j.at, mac: j.mac, recordId: r.id });
    }
    last = page[page.length - 1];
    from = null;
  }
  if (!last || last.seq !== head.seq) {
    return done({ instance, kind: 'missing_tail', seq: (last?.seq ?? start.seq) + 1, id: `${instance}:${(last?.seq ?? start.seq) + 1}`, message: `journal: the chain ends at seq ${last?.seq ?? start.seq}, before the journal's last record (seq ${head.seq})` }, records, 0);
  }

  // 2. Index and journal side by side.
  const indexAnchor = await store.anchor(instance);
  const indexStart = indexAnchor?.seq ?? 0;
  const rows = each(store.scan(instance));
  let i = (await rows.next()).value as StoredRecord | undefined;
  let lag = 0;
  const fail = (kind: ChainProblem['kind'], r: { seq: number; id: string }, message: string) => done({ instance, kind, seq: r.seq, id: r.id, message }, records, lag);
  for await (const j of each(journal.read(-1))) {
    while (i && i.seq < j.seq) {
      if (i.seq > start.seq) return fail('edited', i, `record ${i.id} (seq ${i.seq}) is in the index but not in the journal: it was added to the index`);
      i = (await rows.next()).value as StoredRecord | undefined;
    }
    if (!i) {
      lag++;
      continue;
    }
    if (i.seq === j.seq) {
      if (i.id !== j.id || i.body !== j.body || i.hash !== j.hash || i.prevHash !== j.prevHash) {
        return fail('edited', j, `record ${j.id} (seq ${j.seq}) differs between the index and the journal: one of them was edited`);
      }
      i = (await rows.next()).value as StoredRecord | undefined;
    } else if (j.seq > indexStart) {
      return fail('removed', j, `record ${j.id} (seq ${j.seq}) is in the journal but not in the index: it was removed from the index`);
    }
  }
  if (i) return fail('edited', i, `record ${i.id} (seq ${i.seq}) is in the index beyond the journal's last record (seq ${head.seq}): it was added to the index`);
  if (lag) warnings.push(`the index is ${lag} record${lag === 1 ? '' : 's'} behind the journal (the gateway copies them into it, and catches up when it starts)`);

  // 3. Where the journal starts.
  const taken = first && first.seq === start.seq + 1 && first.type === 'event' ? (JSON.parse(first.body) as { data: { kind?: unknown; details?: { anchor?: JournalVouch } } }).data : null;
  if (taken?.kind === 'journal_started' && taken.details?.anchor) vouches.push({ ...taken.details.anchor, recordId: (first as StoredRecord).id });
  if (start.seq > 0) {
    const v = vouches.find((x) => x.seq === start.seq && x.hash === start.hash);
    const prefix = (message: string) => fail('missing_prefix', { seq: start.seq + 1, id: `${instance}:${start.seq + 1}` }, `journal: ${message}`);
    if (!v) return prefix(`the journal starts after seq ${start.seq}, where no retention record vouches for an anchor: its oldest segments were deleted outside retention`);
    if (o.key && !anchorSigned(o.key, instance, { seq: v.seq, hash: v.hash, at: v.at }, v.mac)) return prefix(`the retention record ${v.recordId} that vouches for the journal's start at seq ${start.seq} is not signed with audit.checkpoint_key`);
  }
  return done(null, records, lag);
}
