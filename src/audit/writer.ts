/**
 * The audit sink: events in, sealed records out, group-written to the journal.
 *
 * Every event becomes a record at once (its data serialised to canonical JSON here, exactly once,
 * in fixed key order on the statement path) and waits in a queue. A commit takes the whole queue,
 * numbers the records on this instance's chain, hashes each onto the previous one and writes
 * them to the journal in ONE write call (and, with `sync: full`, one fdatasync). With no
 * `groupCommitMs` the commit runs once the current turn of the event loop has queued what it has
 * (every statement of the client reads being handled); records that arrive while a commit runs go
 * in the next one. The index (the store that search, the console and replay read) is fed from
 * the journal afterwards, off the statement's path (see index-feed.ts).
 *
 * `statement()` and `sessionStart()` resolve once their record is in the journal: the engine
 * MUST NOT forward a statement's bytes before `statement()` resolves. When a journal write fails,
 * their promises reject with `audit.unavailable` (fail closed) — or resolve anyway when
 * fail_closed is off — and the records nobody waits for (outcomes, session ends, events) stay
 * queued for the next attempt. Outcomes are never awaited: they go in the next group write (or
 * after LAZY_COMMIT_MS at rest), so a statement costs one hashed record on its own path.
 * Sequence numbers and hashes are only given out inside a commit, and a failed write is cut off
 * the journal again, so a failed commit leaves no hole in the chain.
 */
import { hash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AuditStore } from '../store/audit-store.ts';
import { IndexFeed } from './index-feed.ts';
import { MemoryJournal, type Journal } from './journal.ts';
import { GENESIS_HASH, canonicalJson, linkHash, searchColumns, type ChainAnchor, type StoredRecord } from './chain.ts';
import { anchorMac, makeCheckpoint, type Checkpoint } from './checkpoint.ts';
import type {
  AuditIdentity,
  OtherEvent,
  RecordType,
  SessionEndEvent,
  SessionStartEvent,
  StatementData,
  StatementEndEvent,
  StatementEvent,
} from './events.ts';
import type { RecordSink } from './sinks.ts';

export interface AuditSink {
  /** Durably record a session start; resolves when on disk (group-committed). */
  sessionStart(e: SessionStartEvent): Promise<void>;
  /**
   * Write-ahead: durably record the statement BEFORE its bytes are forwarded; rejects with a
   * GatewayError `audit.unavailable` when the store cannot take it (the engine then refuses the
   * statement). Resolves with the record id, to pass to `statementEnd`.
   */
  statement(e: StatementEvent): Promise<string>;
  /** The outcome of a statement: batched, never blocks, never throws. */
  statementEnd(e: StatementEndEvent): void;
  sessionEnd(e: SessionEndEvent): void;
  /** Config reloads, revocations, review events. */
  event(e: OtherEvent): void;
  /** Commit everything queued, then release the store and sinks. */
  close(): Promise<void>;
}

export interface AuditWriterOptions {
  /** The index: what search, the console and replay read. */
  store: AuditStore;
  /** The write-ahead journal (default: one in memory, for `store: memory` and tests). */
  journal?: Journal;
  /** `full`: fdatasync the journal after each group write, before the statements go on. */
  sync?: 'normal' | 'full';
  instance: string;
  logger: Logger;
  sinks?: RecordSink[];
  groupCommitMs: number;
  failClosed: boolean;
  captureResults: 'none' | 'masked';
  captureRows: number;
  /** Delete records older than this (ms); 0 keeps everything. */
  retentionMs: number;
  /** How often retention runs (default hourly). */
  retentionEveryMs?: number;
  /** HMAC-SHA256 key of head checkpoints and retention anchors (`audit.checkpoint_key`). */
  checkpointKey?: string;
  /** How often a head checkpoint is emitted when the chain has grown (0: only at close). */
  checkpointEveryMs?: number;
  now?: () => number;
}

interface Pending {
  id: string;
  type: RecordType;
  at: number;
  sessionId: string | null;
  data: Record<string, unknown>;
  dataJson: string;
  waiter: { resolve(id: string): void; reject(err: Error): void } | null;
}

/** What `closeUncleanRun` found of a previous run that ended without recording its stop. */
export interface UncleanRun {
  /** The last record that run wrote. */
  lastRecord: { id: string; seq: number; at: number };
  /** Its sessions that had no end, now ended with reason `the gateway ended uncleanly`. */
  sessions: number;
  /** Its forwarded statements that had no outcome, now with outcome `unknown`. */
  statements: number;
}

/** Most records held while the store is failing; beyond it the oldest unawaited ones are dropped. */
const MAX_BACKLOG = 100_000;
/** Most records in one transaction. */
const MAX_BATCH = 10_000;
const RETRY_MS = 1000;

/** Cancel a scheduled commit: a timeout, or an immediate wrapped by `#schedule`. */
function cancel(t: NodeJS.Timeout): void {
  const immediate = (t as unknown as { immediate?: NodeJS.Immediate }).immediate;
  if (immediate) clearImmediate(immediate);
  else clearTimeout(t);
}

/** How long records nobody waits for may wait for company before they are committed. */
const LAZY_COMMIT_MS = 20;

export class AuditWriter implements AuditSink {
  readonly #o: AuditWriterOptions;
  readonly #sinks: RecordSink[];
  readonly #sessions = new Map<string, { identity: AuditIdentity; database: string }>();
  readonly #ids = new RecordIds();
  readonly #journal: Journal;
  readonly #feed: IndexFeed;
  #queue: Pending[] = [];
  #head: { seq: number; hash: string };
  #timer: NodeJS.Timeout | null = null;
  #committing: Promise<void> | null = null;
  /** The scheduled commit is the lazy one (for records nobody waits for). */
  #lazy = false;
  #retention: NodeJS.Timeout | null = null;
  #checkpoints: NodeJS.Timeout | null = null;
  /** The seq of the last checkpoint emitted. */
  #checkpointed = -1;
  #closed = false;
  #failing = false;
  /** Why the last commit failed, while failing. */
  #failure: string | null = null;
  /** Transactions committed (for tests and metrics). */
  commits = 0;

  private constructor(o: AuditWriterOptions, head: { seq: number; hash: string }, journal: Journal, feed: IndexFeed) {
    this.#o = o;
    this.#sinks = o.sinks ?? [];
    this.#head = head;
    this.#journal = journal;
    this.#feed = feed;
  }

  /**
   * Bring the index up to the journal (a crash or restart may have left it behind), take the
   * chain head from the journal (from the index when the journal is new: an older log goes on),
   * then accept events.
   */
  static async open(o: AuditWriterOptions): Promise<AuditWriter> {
    const journal = o.journal ?? new MemoryJournal();
    const owner = journal.instance();
    if (owner !== null && owner !== o.instance) {
      throw new Error(`the audit journal ${journal.location} holds the chain of instance "${owner}", not "${o.instance}": give each instance its own audit.journal`);
    }
    const feed = new IndexFeed(o.store, journal, o.instance, o.logger);
    await feed.catchUp();
    const fromJournal = journal.head();
    const fromIndex = await o.store.head(o.instance);
    if (fromJournal && fromIndex && fromIndex.seq > fromJournal.seq) {
      throw new Error(
        `the audit index holds records up to seq ${fromIndex.seq} but the journal ${journal.location} ends at seq ${fromJournal.seq}: the journal lost its newest records; run pgwarden audit verify`,
      );
    }
    const head = fromJournal ?? fromIndex ?? { seq: 0, hash: GENESIS_HASH };
    const w = new AuditWriter(o, head, journal, feed);
    if (o.journal && !fromJournal && fromIndex) {
      // A new journal on an existing log: its first record says where it takes the chain up
      // (signed like a retention anchor), which is what lets verify accept a journal that does
      // not start at seq 1 without a retention record.
      const at = (o.now ?? Date.now)();
      const anchor = { seq: fromIndex.seq, hash: fromIndex.hash, at };
      w.event({ kind: 'journal_started', at, details: { anchor: { instance: o.instance, ...anchor, ...(o.checkpointKey ? { mac: anchorMac(o.checkpointKey, o.instance, anchor) } : {}) } } });
    }
    if (o.checkpointEveryMs) {
      w.#checkpoints = setInterval(() => w.checkpoint(), o.checkpointEveryMs);
      w.#checkpoints.unref();
    }
    if (o.retentionMs > 0) {
      await w.retain().catch((err) => o.logger.error({ err: (err as Error).message }, 'audit retention failed'));
      w.#retention = setInterval(() => {
        w.retain().catch((err) => o.logger.error({ err: (err as Error).message }, 'audit retention failed'));
      }, o.retentionEveryMs ?? 3_600_000);
      w.#retention.unref();
    }
    return w;
  }

  /** A writer on a chain whose head is known (a new in-memory store). */
  static withHead(o: AuditWriterOptions, head: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }): AuditWriter {
    const journal = o.journal ?? new MemoryJournal();
    return new AuditWriter(o, head, journal, new IndexFeed(o.store, journal, o.instance, o.logger));
  }

  get journal(): Journal {
    return this.#journal;
  }

  /** Whether the index keeps up with the journal (it is fed off the statement's path). */
  indexStatus(): { current: boolean; lag: number; reason?: string } {
    return this.#feed.status();
  }

  /** Commit everything queued now (tests, and before reading the store back). */
  async flush(): Promise<void> {
    if (this.#timer) {
      cancel(this.#timer);
      this.#timer = null;
    }
    while (this.#committing) await this.#committing;
    if (this.#queue.length) await this.#commit();
    while (this.#committing) await this.#committing;
    await this.#feed.flush();
  }

  get store(): AuditStore {
    return this.#o.store;
  }

  sessionStart(e: SessionStartEvent): Promise<void> {
    this.#sessions.set(e.sessionId, { identity: e.identity, database: e.database });
    const data = {
      identity: e.identity,
      database: e.database,
      upstream: e.upstream,
      clientAddress: e.clientAddress,
      applicationName: e.applicationName,
      tls: e.tls,
      policy: e.policy,
      transport: e.transport,
    };
    return this.#enqueue('session_start', e.at, e.sessionId, data, true).then(() => undefined);
  }

  statement(e: StatementEvent): Promise<string> {
    const session = this.#sessions.get(e.sessionId);
    // Built with its keys in sorted order at every level, so that plain JSON.stringify is its
    // canonical JSON: this is the engine's path, and canonicalJson's sorting walk costs ~3×.
    const d = e.decision;
    const a = e.analysis;
    const data: StatementData = {
      analysis: a && { class: a.class, command: a.command, tables: a.tables },
      bytes: e.bytes.toString('base64'),
      bytesSha256: hash('sha256', e.bytes, 'hex'),
      database: session?.database,
      decision: { message: d.message, reviewId: d.reviewId, rule: d.rule, verdict: d.verdict },
      identity: session && { groups: session.identity.groups, issuer: session.identity.issuer, subject: session.identity.subject },
      kind: e.kind,
      name: e.name,
      params: e.params,
      seq: e.seq,
      text: e.text,
    };
    return this.#enqueue('statement', e.at, e.sessionId, data as unknown as Record<string, unknown>, true, JSON.stringify(data));
  }

  statementEnd(e: StatementEndEvent): void {
    let capture = this.#o.captureResults === 'masked' ? e.capture : undefined;
    if (capture && capture.rows.length > this.#o.captureRows) {
      capture = { columns: capture.columns, rows: capture.rows.slice(0, this.#o.captureRows), truncated: true };
    }
    // Sorted keys at every level, as in statement(): JSON.stringify is the canonical form.
    const data = {
      capture: capture && { columns: capture.columns, rows: capture.rows, truncated: capture.truncated },
      commandTag: e.commandTag,
      durationMs: e.durationMs,
      error: e.error && { message: e.error.message, sqlstate: e.error.sqlstate },
      id: e.id,
      rows: e.rows,
    };
    void this.#enqueue('statement_end', e.at, e.sessionId, data, false, JSON.stringify(data));
  }

  sessionEnd(e: SessionEndEvent): void {
    const session = this.#sessions.get(e.sessionId);
    this.#sessions.delete(e.sessionId);
    const data = { reason: e.reason, statements: e.statements, durationMs: e.durationMs, identity: session ? { issuer: session.identity.issuer, subject: session.identity.subject, groups: session.identity.groups } : undefined };
    void this.#enqueue('session_end', e.at, e.sessionId, data, false);
  }

  event(e: OtherEvent): void {
    void this.#enqueue('event', e.at, e.sessionId ?? null, { kind: e.kind, actor: e.actor, details: e.details }, false);
  }

  /**
   * Whether the store takes writes now. After a failed commit it is not writable until a commit
   * succeeds again; a record of the outage stays queued and is retried every second meanwhile, so
   * the state recovers without waiting for a client's statement.
   */
  status(): { writable: boolean; reason?: string } {
    if (this.#closed) return { writable: false, reason: 'the audit log is closed' };
    return this.#failing ? { writable: false, reason: `the audit store cannot write: ${this.#failure ?? 'unknown error'}` } : { writable: true };
  }

  /**
   * Close what the previous run of this instance left open when it ended without its
   * `gateway_stop` record (killed, crashed, power lost): record that it ended uncleanly, end its
   * open sessions with that reason, and give its statements that have no outcome the outcome
   * `unknown` (they were forwarded, and may or may not have run). Resolves with what was closed,
   * or null when the previous run ended cleanly (or there was none). Call before new sessions.
   */
  async closeUncleanRun(now = (this.#o.now ?? Date.now)()): Promise<UncleanRun | null> {
    const store = this.#o.store;
    const instance = this.#o.instance;
    await this.#feed.flush();
    const kindOf = (r: StoredRecord) => (r.type === 'event' ? ((JSON.parse(r.body) as { data: { kind?: unknown } }).data.kind as string | undefined) : undefined);
    // A journal begun by this run on an older log may already have written its first record.
    const recent = (await store.search({ instance, newest: true, limit: 2 })).filter((r) => kindOf(r) !== 'journal_started');
    const last = recent[recent.length - 1];
    if (!last) return null;
    if (kindOf(last) === 'gateway_stop') return null;
    // The previous run began at its gateway_start record (events are few: the newest suffice).
    const events = await store.search({ instance, types: ['event'], newest: true, limit: 10_000 });
    let fromPos = 0;
    for (let i = events.length - 1; i >= 0; i--) {
      if (kindOf(events[i]) === 'gateway_start') {
        fromPos = events[i].pos;
        break;
      }
    }
    const sessions = new Map<string, { identity?: unknown; statements: number; at: number }>();
    const statements = new Map<string, { sessionId: string | null; at: number }>();
    for (let after = fromPos; ; ) {
      const page = await store.search({ instance, afterPos: after, types: ['session_start', 'session_end', 'statement', 'statement_end'], limit: 10_000 });
      if (page.length === 0) break;
      for (const r of page) {
        const data = (JSON.parse(r.body) as { data: Record<string, unknown> }).data;
        if (r.type === 'session_start' && r.sessionId) sessions.set(r.sessionId, { identity: data.identity, statements: 0, at: r.at });
        else if (r.type === 'session_end' && r.sessionId) sessions.delete(r.sessionId);
        else if (r.type === 'statement') {
          const s = r.sessionId ? sessions.get(r.sessionId) : undefined;
          if (s) s.statements++;
          // A refused statement, or one recorded while held for review, was never forwarded by
          // that record and has no outcome to wait for.
          if (r.verdict === 'allow') statements.set(r.id, { sessionId: r.sessionId, at: r.at });
        } else if (r.type === 'statement_end' && r.ref) statements.delete(r.ref);
      }
      after = page[page.length - 1].pos;
    }
    const reason = 'the gateway ended uncleanly';
    const found: UncleanRun = { lastRecord: { id: last.id, seq: last.seq, at: last.at }, sessions: sessions.size, statements: statements.size };
    this.event({ kind: 'previous_run_unclean', at: now, details: { ...found, reason: 'the previous run of this instance ended without recording its stop' } });
    for (const [id, st] of statements) {
      const data = { id, outcome: 'unknown', reason: `${reason}: the statement was forwarded and its outcome was never recorded` };
      void this.#enqueue('statement_end', now, st.sessionId, data, false);
    }
    for (const [sessionId, s] of sessions) {
      const id = s.identity as { issuer?: string; subject?: string; groups?: string[] } | undefined;
      const data = { reason, statements: s.statements, identity: id ? { issuer: id.issuer, subject: id.subject, groups: id.groups } : undefined, outcome: 'unknown' };
      void this.#enqueue('session_end', now, sessionId, data, false);
    }
    await this.flush();
    this.#o.logger.warn(found, 'the previous run of this gateway ended uncleanly: its open sessions and statements were closed in the audit log');
    return found;
  }

  /**
   * Emit a head checkpoint of this instance's chain (signed when a key is configured) to the
   * log and the sinks, if the chain has grown since the last one. Returns it, or null.
   */
  checkpoint(now = (this.#o.now ?? Date.now)()): Checkpoint | null {
    if (this.#head.seq === this.#checkpointed || this.#head.seq === 0) return null;
    const c = makeCheckpoint(this.#o.instance, this.#head, now, this.#o.checkpointKey);
    this.#checkpointed = c.seq;
    this.#o.logger.info({ checkpoint: c }, 'audit checkpoint');
    for (const s of this.#sinks) {
      try {
        s.checkpoint?.(c);
      } catch (err) {
        this.#o.logger.error({ err: (err as Error).message }, 'audit sink failed');
      }
    }
    return c;
  }

  /**
   * Apply retention now: delete records older than the retention period. The anchors it leaves
   * are recorded (signed) in a `retention` event, which is what tells `verify` that a chain's
   * missing prefix was deleted by retention and not by someone else.
   */
  async retain(now = (this.#o.now ?? Date.now)()): Promise<number> {
    if (this.#o.retentionMs <= 0) return 0;
    const store = this.#o.store;
    const before = now - this.#o.retentionMs;
    await this.#feed.flush();
    const deleted = await store.deleteBefore(before);
    // Whole journal segments go once the index holds them, and their records are old enough.
    const cut = this.#journal.retain(before, this.#feed.indexed);
    if (deleted || cut.deleted) {
      this.#o.logger.info({ deleted, journal: cut.deleted }, 'audit retention deleted old records');
      const anchors: Record<string, ChainAnchor & { mac?: string }> = {};
      for (const instance of await store.instances()) {
        const a = await store.anchor(instance);
        if (a) anchors[instance] = { seq: a.seq, hash: a.hash, at: a.at, ...(this.#o.checkpointKey ? { mac: anchorMac(this.#o.checkpointKey, instance, a) } : {}) };
      }
      const key = this.#o.checkpointKey;
      const journal = cut.anchor && { instance: this.#o.instance, seq: cut.anchor.seq, hash: cut.anchor.hash, at: before, ...(key ? { mac: anchorMac(key, this.#o.instance, { ...cut.anchor, at: before }) } : {}) };
      this.event({ kind: 'retention', at: now, details: { deleted, before, anchors, ...(journal ? { journal, journalDeleted: cut.deleted } : {}) } });
      await this.flush();
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retention) clearInterval(this.#retention);
    if (this.#checkpoints) clearInterval(this.#checkpoints);
    if (this.#timer) cancel(this.#timer);
    this.#timer = null;
    // Commit what is queued; one more try if a commit fails, then give up with a log line.
    for (let attempt = 0; attempt < 2 && (this.#queue.length || this.#committing); attempt++) {
      while (this.#committing) await this.#committing;
      if (this.#queue.length) await this.#commit();
    }
    if (this.#queue.length) this.#o.logger.error({ lost: this.#queue.length }, 'audit records could not be written before shutdown');
    for (const p of this.#queue) p.waiter?.reject(this.#unavailable(new Error('the audit log is closed'), p.type));
    this.#queue = [];
    // The final head, so that a tail cut off after shutdown is noticed too.
    this.checkpoint();
    await this.#feed.flush();
    this.#feed.close();
    this.#journal.close();
    await Promise.all(this.#sinks.map((s) => s.close()));
    await this.#o.store.close();
  }

  /** `dataJson`, when given, MUST equal canonicalJson(data) (see statement()). */
  #enqueue(type: RecordType, at: number, sessionId: string | null, data: Record<string, unknown>, awaited: boolean, dataJson?: string): Promise<string> {
    const id = this.#ids.next(at);
    if (this.#closed) {
      if (!awaited) {
        this.#o.logger.error({ type, sessionId }, 'audit record after close dropped');
        return Promise.resolve(id);
      }
      return Promise.reject(this.#unavailable(new Error('the audit log is closed'), type));
    }
    // Serialise now, once: the caller may reuse its buffers and objects after we return.
    const p: Pending = { id, type, at, sessionId, data, dataJson: dataJson ?? canonicalJson(data), waiter: null };
    const done = awaited ? new Promise<string>((resolve, reject) => (p.waiter = { resolve, reject })) : Promise.resolve(id);
    this.#queue.push(p);
    if (this.#queue.length > MAX_BACKLOG) this.#shed();
    if (awaited) {
      // Someone waits for this record (write-ahead): a lazy commit pending for outcomes is
      // brought forward, and they share this one.
      if (this.#timer && this.#lazy) {
        cancel(this.#timer);
        this.#timer = null;
      }
      this.#schedule(this.#o.groupCommitMs);
    } else this.#scheduleLazy();
    return done;
  }

  /**
   * Records nobody waits for (outcomes, session ends, events) are committed a little later, or
   * with the next awaited record, whichever comes first: they never make a write-ahead record
   * wait behind a commit of their own.
   */
  #scheduleLazy(): void {
    if (this.#timer || this.#committing) return;
    this.#lazy = true;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#lazy = false;
      void this.#commit();
    }, LAZY_COMMIT_MS);
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#committing) return; // the running commit schedules the next one
    this.#lazy = false;
    if (delayMs <= 0) {
      // No wait at rest: commit once this turn of the event loop has queued what it has (every
      // statement of the socket chunks being handled now); what arrives during the commit goes
      // in the next one, so batches grow exactly as fast as commits are slow.
      const immediate = setImmediate(() => {
        this.#timer = null;
        void this.#commit();
      });
      // Cancelled like a timeout elsewhere: wrap it so clearTimeout-style callers work.
      this.#timer = { [Symbol.toPrimitive]: () => 0, immediate } as unknown as NodeJS.Timeout;
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#commit();
    }, delayMs);
  }

  #commit(): Promise<void> {
    const run = this.#commitBatch().finally(() => {
      this.#committing = null;
      if (this.#queue.length && !this.#closed) {
        if (this.#failing) this.#schedule(RETRY_MS);
        else if (this.#queue.some((q) => q.waiter !== null)) {
          // A write-ahead record arrived during the commit: it goes now, with everything queued.
          this.#committing = this.#commit();
        } else this.#scheduleLazy();
      }
    });
    this.#committing = run;
    return run;
  }

  async #commitBatch(): Promise<void> {
    const batch = this.#queue.length > MAX_BATCH ? this.#queue.splice(0, MAX_BATCH) : this.#queue.splice(0);
    if (batch.length === 0) return;
    const sealed: StoredRecord[] = new Array(batch.length);
    let { seq, hash } = this.#head;
    const instance = this.#o.instance;
    const instanceJson = JSON.stringify(instance);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i];
      seq++;
      // The canonical JSON of { at, data, id, instance, seq, sessionId, type }, keys in sorted
      // order, assembled around the data serialised at enqueue time.
      const body = `{"at":${p.at},"data":${p.dataJson},"id":${JSON.stringify(p.id)},"instance":${instanceJson},"seq":${seq},"sessionId":${JSON.stringify(p.sessionId)},"type":"${p.type}"}`;
      const prevHash = hash;
      hash = linkHash(prevHash, body);
      sealed[i] = { id: p.id, instance, seq, at: p.at, type: p.type, sessionId: p.sessionId, body, prevHash, hash, ...searchColumns(p.type, p.data) };
    }
    try {
      this.#journal.append(sealed);
    } catch (err) {
      this.#onFailure(batch, err);
      return;
    }
    this.#head = { seq, hash };
    this.#feed.push(sealed);
    if (this.#o.sync === 'full') {
      try {
        await this.#journal.sync();
      } catch (err) {
        // Written but maybe not on disk: the chain keeps the records (nothing is written
        // twice), but no statement of the group goes on when failing closed.
        this.#failing = true;
        this.#failure = err instanceof Error ? err.message : String(err);
        this.#o.logger.error({ journal: this.#journal.location, err: this.#failure }, 'audit journal sync failed');
        for (const p of batch) {
          if (!p.waiter) continue;
          if (this.#o.failClosed) p.waiter.reject(this.#unavailable(err, p.type));
          else p.waiter.resolve(p.id);
        }
        return;
      }
    }
    this.commits++;
    if (this.#failing) this.#o.logger.info({ journal: this.#journal.location }, 'audit journal writing again');
    this.#failing = false;
    this.#failure = null;
    for (const p of batch) p.waiter?.resolve(p.id);
    for (const s of this.#sinks) {
      try {
        s.write(sealed);
      } catch (err) {
        this.#o.logger.error({ err: (err as Error).message }, 'audit sink failed');
      }
    }
  }

  #onFailure(batch: Pending[], err: unknown): void {
    const firstFailure = !this.#failing;
    if (firstFailure) this.#o.logger.error({ journal: this.#journal.location, err: (err as Error).message }, 'audit journal write failed');
    this.#failing = true;
    this.#failure = err instanceof Error ? err.message : String(err);
    const kept: Pending[] = [];
    for (const p of batch) {
      if (!p.waiter) kept.push(p);
      else if (this.#o.failClosed) p.waiter.reject(this.#unavailable(err, p.type));
      else {
        // Fail open: the statement runs; its record is kept for the next attempt.
        p.waiter.resolve(p.id);
        p.waiter = null;
        kept.push(p);
      }
    }
    this.#queue = kept.concat(this.#queue);
    // The outage goes on record once the store writes again; until then this record is retried
    // every second, which is also what notices the recovery when no statement arrives.
    if (firstFailure) this.event({ kind: 'audit_store_unavailable', at: (this.#o.now ?? Date.now)(), details: { error: this.#failure } });
    if (this.#queue.length > MAX_BACKLOG) this.#shed();
    // A write that failed was cut off the journal; a sync that failed left the records written:
    // the chain continues from what the journal holds.
    const h = this.#journal.head();
    if (h && h.seq > this.#head.seq) this.#head = h;
  }

  #shed(): void {
    const excess = this.#queue.length - MAX_BACKLOG;
    let dropped = 0;
    this.#queue = this.#queue.filter((p) => {
      if (dropped < excess && !p.waiter) {
        dropped++;
        return false;
      }
      return true;
    });
    if (dropped) this.#o.logger.error({ dropped }, 'audit backlog full while the store is failing: oldest outcome records dropped');
  }

  #unavailable(cause: unknown, type: RecordType): GatewayError {
    const why = cause instanceof Error ? cause.message : String(cause);
    if (type === 'session_start') {
      return new GatewayError('audit.unavailable', `pgwarden: the audit log could not record the start of the session (${why}), so the connection was refused`, {
        cause,
        hint: 'The audit store cannot write: no session starts until it can. Try again shortly; /readyz reports the gateway not ready meanwhile.',
      });
    }
    return new GatewayError('audit.unavailable', `pgwarden: the audit log could not record the statement (${why}), so it was not run`, { cause });
  }
}

/**
 * Record ids: time-ordered and unique across instances, 9 base36 chars of milliseconds and 7
 * random. Random bytes are drawn in bulk: one randomBytes() call costs as much as a whole record;
 * the time part is formatted once per millisecond, and each random char is one byte taken modulo
 * 36 (ids need to be unique, not uniformly distributed: 36^7 per millisecond and instance).
 */
const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';
export class RecordIds {
  #pool = Buffer.alloc(0);
  #at = 0;
  #ms = -1;
  #prefix = '';

  next(at: number): string {
    if (this.#at + 7 > this.#pool.length) {
      this.#pool = randomBytes(7 * 1024);
      this.#at = 0;
    }
    const ms = Math.max(0, Math.floor(at));
    if (ms !== this.#ms) {
      this.#ms = ms;
      this.#prefix = ms.toString(36).padStart(9, '0');
    }
    const p = this.#pool;
    const i = this.#at;
    this.#at += 7;
    return (
      this.#prefix +
      BASE36[p[i] % 36] +
      BASE36[p[i + 1] % 36] +
      BASE36[p[i + 2] % 36] +
      BASE36[p[i + 3] % 36] +
      BASE36[p[i + 4] % 36] +
      BASE36[p[i + 5] % 36] +
      BASE36[p[i + 6] % 36]
    );
  }
}
