/**
 * The audit log: every session, statement (allowed, refused or held), outcome and admin event,
 * in a hash chain per gateway instance that `verify` can check, searchable and replayable.
 *
 * Data flow: engine → `AuditSink` (events become records, serialised once) → group commit
 * (number, hash onto the chain, one store transaction) → store (SQLite / PostgreSQL / memory)
 * → JSON-lines sinks (copies, after the commit). SIEM exporters (`siem/`) read the store from
 * their own durable cursors; the writer only announces commits and checkpoints to them.
 * Readers: `verifyStore`, `loadReplay`, `store.search` (the CLI and console).
 *
 * The engine MUST await `statement()` before forwarding a statement's bytes, and refuse the
 * statement when it rejects (`audit.unavailable`). Records are never updated; retention deletes
 * a chain prefix and moves the chain's anchor.
 */
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import { openAuditStore, type AuditStore } from '../store/index.ts';
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
  /** Tests: cap the SQLite file at this many pages, to make writes fail as on a full disk. */
  maxPageCount?: number;
  /** SQLite: bound of the write-ahead log in bytes (default 16 MiB). */
  walLimitBytes?: number;
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
  /** Whether the store takes writes now (readiness). */
  status(): { writable: boolean; reason?: string };
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
  const store = await openAuditStore(cfg.store, { baseDir, password: cfg.password, maxPageCount: deps.maxPageCount, sync: cfg.sync, walLimitBytes: deps.walLimitBytes });
  let writer: AuditWriter;
  let exporters: Exporter[] = [];
  try {
    const jsonl = cfg.sinks.filter((s): s is JsonlSinkConfig => 'jsonl' in s);
    // The exporters read from the store; the writer only tells them what was committed.
    exporters = openExporters(cfg.sinks.filter((s) => !('jsonl' in s)) as ExportConfig[], { store, storeUrl: cfg.store, instance, logger: deps.logger.child({ part: 'siem' }), baseDir });
    await Promise.all(exporters.map((e) => e.start()));
    const sinks: RecordSink[] = [...openSinks(jsonl, deps.logger, baseDir), ...exporters];
    writer = await AuditWriter.open({
      store,
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
    await Promise.all(exporters.map((e) => e.close().catch(() => undefined)));
    await store.close().catch(() => undefined);
    throw err;
  }
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
    verify: (o) => verifyStore(store, { key: cfg.checkpoint_key, ...o }),
    checkpoint: () => writer.checkpoint(),
    exporters: () => exporters.map((e) => e.status()),
    store,
    instance,
    get commits() {
      return writer.commits;
    },
  };
}

/** The directory relative audit paths are resolved against, for a config file. */
export function auditBaseDir(configFile: string): string {
  return dirname(configFile);
}
