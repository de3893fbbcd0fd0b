/**
 * `memoryAudit()`: the real audit writer over an in-memory journal and index, for tests. Same
 * group write, chain, index feed and capture rules as on disk; `records()` reads back what the
 * journal holds, `journal.failWrites` makes group writes fail as a full disk would (statements
 * are refused), `store.failWrites` makes the index fail (statements go on, the index catches up).
 */
import { silentLogger, type Logger } from '../log.ts';
import { MemoryAuditStore } from '../store/memory-audit-store.ts';
import { toAuditRecord } from './chain.ts';
import { MemoryJournal } from './journal.ts';
import type { AuditRecord } from './events.ts';
import { AuditWriter, type AuditSink } from './writer.ts';

export interface MemoryAuditOptions {
  instance?: string;
  groupCommitMs?: number;
  failClosed?: boolean;
  captureResults?: 'none' | 'masked';
  captureRows?: number;
  logger?: Logger;
}

export type MemoryAudit = AuditSink & {
  /** Every record in the journal, in chain order. */
  records(): AuditRecord[];
  /** What the index holds now (it is fed from the journal off the statement's path). */
  indexed(): AuditRecord[];
  journal: MemoryJournal;
  /** Commit what is queued (outcomes and events are not awaited by their callers). */
  flush(): Promise<void>;
  /** Whether the store takes writes now. */
  status(): { writable: boolean; reason?: string };
  store: MemoryAuditStore;
  readonly commits: number;
};

export function memoryAudit(options: MemoryAuditOptions = {}): MemoryAudit {
  const store = new MemoryAuditStore();
  const journal = new MemoryJournal();
  const writer = AuditWriter.withHead({
    store,
    journal,
    instance: options.instance ?? 'memory',
    logger: options.logger ?? silentLogger(),
    groupCommitMs: options.groupCommitMs ?? 0,
    failClosed: options.failClosed ?? true,
    captureResults: options.captureResults ?? 'masked',
    captureRows: options.captureRows ?? 100,
    retentionMs: 0,
  });
  return {
    sessionStart: (e) => writer.sessionStart(e),
    statement: (e) => writer.statement(e),
    statementEnd: (e) => writer.statementEnd(e),
    sessionEnd: (e) => writer.sessionEnd(e),
    event: (e) => writer.event(e),
    close: () => writer.close(),
    flush: () => writer.flush(),
    status: () => writer.status(),
    records: () => journal.records().map(toAuditRecord),
    indexed: () => store.rows().map(toAuditRecord),
    store,
    journal,
    get commits() {
      return writer.commits;
    },
  };
}
