/**
 * The audit log: every session, statement (allowed, refused or held), outcome and admin event,
 * in a hash chain per gateway instance that `verify` can check, searchable and replayable.
 *
 * Data flow: engine → `AuditSink` (events become records, serialised once) → group write
 * (number, hash onto the chain, ONE write to the journal's segment file, fdatasync with
 * `sync: full`) → the statement goes on → index feed (off the statement's path: the store's
 * writer thread) → index (SQLite / PostgreSQL / memory) → JSON-lines sinks (SIEM copies).
 * SIEM exporters (`siem/`) read the index from their own durable cursors; the writer only
 * announces group writes and checkpoints to them (they poll as well).
 * Readers: `verifyStore` + `verifyJournal`, `loadReplay`, `store.search` (the CLI and console).
 *
 * The engine MUST await `statement()` before forwarding a statement's bytes, and refuse the
 * statement when it rejects (`audit.unavailable`). Records are never updated; retention deletes
 * a chain prefix (whole journal segments) and moves the chain's anchor.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import type { LockHolder } from '../file-lock.ts';
import { openAuditStore, sqlitePath, type AuditStore } from '../store/index.ts';
import { FileJournal, MemoryJournal, type Journal } from './journal.ts';
import { verifyJournal } from './verify-journal.ts';
import type { AuditConfig, JsonlSinkConfig } from './schema.ts';
import { openSinks, type RecordSink } from './sinks.ts';
import { openExporters, type Exporter, type ExportConfig, type ExporterStatus } from './siem/index.ts';
import { verifyStore, type VerifyOptions } from './verify.ts';
import type { Checkpoint } from './checkpoint.ts';
import { AuditWriter, type AuditSink, type UncleanRun } from './writer.ts';
import type { VerifyResult } from './chain.ts';

export { auditSchema, defaultAuditConfig, type AuditConfig, type AuditConfigInput, type JsonlSinkConfig, type SinkConfig } from './schema.ts';
export { type ExporterStatus } from './siem/index.ts';
export type {
  AuditIdentity,
  AuditRecord,
  OtherEvent,
  OtherEventKind,
  RecordType,
  ResultCapture,
  SessionEndEvent,
  SessionStartEvent,
  StatementAnalysisSummary,
  StatementData,
  StatementDecision,
  StatementEndEvent,
  StatementEvent,
  StatementKind,
  Verdict,
} from './events.ts';
export { AuditWriter, RecordIds, type AuditSink, type AuditWriterOptions, type UncleanRun } from './writer.ts';
export { memoryAudit, type MemoryAudit, type MemoryAuditOptions } from './memory.ts';
export { GENESIS_HASH, canonicalJson, linkHash, recordBody, toAuditRecord, verifyChain, type ChainProblem, type StoredRecord, type VerifyResult } from './chain.ts';
export { verifyStore, type VerifyOptions } from './verify.ts';
export { verifyJournal } from './verify-journal.ts';
export { FileJournal, MemoryJournal, journalLine, parseLine, type Journal } from './journal.ts';
export { IndexFeed } from './index-feed.ts';
export { anchorMac, checkpointMac, latestCheckpoints, makeCheckpoint, parseExpectedHead, type Checkpoint } from './checkpoint.ts';
export { loadReplay, type Replay, type ReplayStep } from './replay.ts';
export { JsonlFileSink, StdoutSink, jsonLine, type RecordSink } from './sinks.ts';
export { captureTable, outcomeSummary, recordDetail, recordLine, replayStepLines } from './format.ts';

export interface OpenAuditDeps {
  logger: Logger;
  /** This gateway's chain in a shared store (default: `audit.instance`, else the host name). */
  instance?: string;
  /** Relative SQLite and sink paths are resolved here (default: the working directory). */
  baseDir?: string;
  /**
   * Tests: cap the SQLite file at this many 4 KiB pages, and the journal at as many bytes, to make
   * writes fail as on a full disk.
   */
  maxPageCount?: number;
  /** SQLite: bound of the write-ahead log in bytes (default 16 MiB). */
  walLimitBytes?: number;
  /** SQLite: lock the file for this instance (a second instance on it is refused at start). */
  lock?: LockHolder;
}

export type OpenedAudit = AuditSink & {
  store: AuditStore;
  instance: string;
  /** Check every chain in the store (with the configured key, and these checkpoints). */
  verify(o?: VerifyOptions): Promise<VerifyResult>;
  /** Emit a head checkpoint now, if the chain grew since the last one. */
  checkpoint(): Checkpoint | null;
  /** Apply retention now; resolves with the number of records deleted. */
  retain(now?: number): Promise<number>;
  /** Commit what is queued now. */
  flush(): Promise<void>;
  /** Whether the journal takes writes now (readiness). */
  status(): { writable: boolean; reason?: string };
  /** Whether the index keeps up with the journal (it never holds statements up). */
  indexStatus(): { current: boolean; lag: number; reason?: string };
  journal: Journal;
  /** Close in the log what a previous run that ended uncleanly left open (see AuditWriter). */
  closeUncleanRun(now?: number): Promise<UncleanRun | null>;
  /** The SIEM exporters (`syslog`/`http` sinks): lag, deliveries, failures (for /metrics). */
  exporters(): ExporterStatus[];
  readonly commits: number;
};

/** Open the configured store and sinks and start accepting events on this instance's chain. */
export async function openAudit(cfg: AuditConfig, deps: OpenAuditDeps): Promise<OpenedAudit> {
  const baseDir = deps.baseDir ?? process.cwd();
  const instance = deps.instance ?? cfg.instance ?? hostname();
  // The index needs no fsync of its own: after a power loss it catches up from the journal.
  const store = await openAuditStore(cfg.store, { baseDir, password: cfg.password, maxPageCount: deps.maxPageCount, sync: 'normal', walLimitBytes: deps.walLimitBytes, lock: deps.lock });
  let writer: AuditWriter;
  let journal: Journal | undefined;
  let exporters: Exporter[] = [];
  try {
    const dir = journalDir(cfg, baseDir, instance);
    journal = dir ? new FileJournal(dir, { segmentBytes: cfg.journal_segment_size, maxBytes: deps.maxPageCount === undefined ? undefined : deps.maxPageCount * 4096 }) : new MemoryJournal();
    const jsonl = cfg.sinks.filter((s): s is JsonlSinkConfig => 'jsonl' in s);
    // The exporters read from the index; the writer only tells them what was written.
    exporters = openExporters(cfg.sinks.filter((s) => !('jsonl' in s)) as ExportConfig[], { store, storeUrl: cfg.store, instance, logger: deps.logger.child({ part: 'siem' }), baseDir });
    await Promise.all(exporters.map((e) => e.start()));
    const sinks: RecordSink[] = [...openSinks(jsonl, deps.logger, baseDir), ...exporters];
    writer = await AuditWriter.open({
      store,
      journal,
      sync: cfg.sync,
      instance,
      logger: deps.logger.child({ part: 'audit' }),
      sinks,
      groupCommitMs: cfg.group_commit_ms,
      failClosed: cfg.fail_closed,
      captureResults: cfg.capture_results,
      captureRows: cfg.capture_rows,
      retentionMs: cfg.retention,
      checkpointKey: cfg.checkpoint_key,
      checkpointEveryMs: cfg.checkpoint_every,
    });
  } catch (err) {
    journal?.close();
    await Promise.all(exporters.map((e) => e.close().catch(() => undefined)));
    await store.close().catch(() => undefined);
    throw err;
  }
  const j = journal as Journal;
  return {
    sessionStart: (e) => writer.sessionStart(e),
    statement: (e) => writer.statement(e),
    statementEnd: (e) => writer.statementEnd(e),
    sessionEnd: (e) => writer.sessionEnd(e),
    event: (e) => writer.event(e),
    close: () => writer.close(),
    flush: () => writer.flush(),
    retain: (now) => writer.retain(now),
    status: () => writer.status(),
    closeUncleanRun: (now) => writer.closeUncleanRun(now),
    indexStatus: () => writer.indexStatus(),
    journal: j,
    verify: async (o) => {
      await writer.flush();
      const index = await verifyStore(store, { key: cfg.checkpoint_key, ...o });
      if (!index.ok) return index;
      return verifyJournal(j, store, index, { key: cfg.checkpoint_key });
    },
    checkpoint: () => writer.checkpoint(),
    exporters: () => exporters.map((e) => e.status()),
    store,
    instance,
    get commits() {
      return writer.commits;
    },
  };
}

/**
 * The journal's directory: `audit.journal`; else named after the SQLite file, next to it
 * (`./pgwarden-data/audit.db` → `./pgwarden-data/audit-journal`); else, with a PostgreSQL store,
 * `./pgwarden-data/journal-<instance>`; null for `store: memory` without `audit.journal` (the
 * journal is then in memory, like the store).
 */
export function journalDir(cfg: AuditConfig, baseDir: string, instance: string): string | null {
  if (cfg.journal) return resolve(baseDir, cfg.journal);
  if (cfg.store.startsWith('sqlite:')) {
    const db = sqlitePath(cfg.store, baseDir);
    return join(dirname(db), `${basename(db).replace(/\.[^.]*$/, '')}-journal`);
  }
  if (cfg.store === 'memory') return null;
  return resolve(baseDir, 'pgwarden-data', `journal-${instance}`);
}

/** The directory relative audit paths are resolved against, for a config file. */
export function auditBaseDir(configFile: string): string {
  return dirname(configFile);
}
