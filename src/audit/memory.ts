/**
 * `memoryAudit()`: the real audit writer over an in-memory store, for tests and `store: memory`.
 * Same group commit, chain and capture rules as with SQLite; `records()` reads back what was
 * committed, `store.failWrites` makes commits fail as a full disk would.
 */
import { silentLogger, type Logger } from '../log.ts';
import { MemoryAuditStore } from '../store/memory-audit-store.ts';
import { toAuditRecord } from './chain.ts';
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
  /** Every committed record, in commit order. */
  records(): AuditRecord[];
  /** Commit what is queued (outcomes and events are not awaited by their callers). */
  flush(): Promise<void>;
  /** Whether the store takes writes now. */
  status(): { writable: boolean; reason?: string };
  store: MemoryAuditStore;
  readonly commits: number;
};

export function memoryAudit(options: MemoryAuditOptions = {}): MemoryAudit {
  const store = new MemoryAuditStore();
  const writer = AuditWriter.withHead({
    store,
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
    records: () => store.rows().map(toAuditRecord),
    store,
    get commits() {
      return writer.commits;
    },
  };
}
