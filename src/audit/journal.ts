/**
 * The audit journal: the write-ahead copy of this instance's hash chain, in segment files opened
 * for append. It is what a statement waits for before its bytes are forwarded, so it costs one
 * `write()` per group of records (every record that arrived in one turn of the event loop) and,
 * with `sync: full`, one `fdatasync` per group, run on libuv's thread pool.
 *
 * A segment is named by the seq of its first record (`0000000000000001.journal`) and holds one
 * line per record: `<hash> <prevHash> <body>\n`, where `body` is the record's canonical JSON (no
 * newline can occur in it) and `hash = sha256(prevHash ‖ body)`, exactly as in the index. A
 * segment is closed once it passes the configured size; retention deletes whole segments, oldest
 * first, and the chain then starts at the first line left (its prevHash and seq − 1 are the
 * journal's anchor, which the `retention` record vouches for).
 *
 * Durability: after `append()` returns the bytes are in the OS (they survive kill -9 of the
 * gateway); after `sync()` resolves they are on disk (they survive an OS crash or power loss).
 * A group write that fails is cut off again, so the file never keeps a record the chain did not
 * take; a torn last line (a crash inside a write) is cut off when the journal is opened.
 */
import { closeSync, existsSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateFile } from '../private-files.ts';
import type { ChainHead, StoredRecord } from '../store/record.ts';
import { searchColumns, type RecordContent } from './chain.ts';

/** What a journal does; `FileJournal` on disk, `MemoryJournal` for `store: memory` and tests. */
export interface Journal {
  readonly location: string;
  /** Group writes done (one per `append`). */
  readonly writes: number;
  /** The last record written, or null when the journal is empty. */
  head(): ChainHead | null;
  /** The chain (instance) the journal's records belong to, or null when it is empty. */
  instance(): string | null;
  /** Where the journal's chain starts: the seq before its first record and that record's prevHash; null when empty. */
  start(): ChainHead | null;
  /** Write records (consecutive seqs after head) in ONE write: all or none. Throws on failure. */
  append(records: StoredRecord[]): void;
  /** Make everything appended so far durable on disk. */
  sync(): Promise<void>;
  /** Every record with seq > `after`, in seq order, in pages. */
  read(after: number): AsyncIterable<StoredRecord[]>;
  /**
   * Delete whole segments, oldest first, whose records are all older than `before` and already in
   * the index (seq ≤ `indexed`). Resolves with the records deleted and the new anchor.
   */
  retain(before: number, indexed: number): { deleted: number; anchor: ChainHead | null };
  close(): void;
}

/** A journal line's parts, or a record that fails verification when the line is not one. */
export function parseLine(line: string, where: string): StoredRecord {
  const hash = line.slice(0, 64);
  const prevHash = line.slice(65, 129);
  const body = line.slice(130);
  let c: RecordContent | null = null;
  if (line[64] === ' ' && line[129] === ' ') {
    try {
      c = JSON.parse(body) as RecordContent;
    } catch {
      c = null;
    }
  }
  if (!c || typeof c !== 'object' || typeof c.seq !== 'number' || typeof c.id !== 'string') {
    // Not a record: verify reports it as edited at this place.
    return { id: where, instance: '', seq: -1, at: 0, type: 'event', sessionId: null, body: line, prevHash: '', hash: '', subject: null, verdict: null, tables: null, text: null, ref: null };
  }
  return { id: c.id, instance: c.instance, seq: c.seq, at: c.at, type: c.type, sessionId: c.sessionId, body, prevHash, hash, ...searchColumns(c.type, c.data ?? {}) };
}

/**
 * A line's seq without parsing it: the body's last `"seq":` is the record's own (the keys after
 * `data` are id, instance, seq, sessionId, type, none of which can hold a quote unescaped).
 * -1 when it cannot be read that way (the line is then parsed, and verify judges it).
 */
function lineSeq(line: string): number {
  const at = line.lastIndexOf('"seq":');
  if (at < 0) return -1;
  const n = Number.parseInt(line.slice(at + 6, at + 26), 10);
  return Number.isSafeInteger(n) ? n : -1;
}

/** The journal line of a sealed record. */
export function journalLine(r: StoredRecord): string {
  return `${r.hash} ${r.prevHash} ${r.body}\n`;
}

const PAGE = 5000;
const SUFFIX = '.journal';

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}${SUFFIX}`;
}

interface Segment {
  firstSeq: number;
  path: string;
}

export interface FileJournalOptions {
  /** A segment is closed once it is larger than this (bytes). */
  segmentBytes: number;
  /** Tests: writes fail as on a full disk once the journal would hold more than this many bytes. */
  maxBytes?: number;
  /** Open an existing journal to read it (verify): nothing is created or cut. */
  readOnly?: boolean;
}

export class FileJournal implements Journal {
  readonly location: string;
  readonly #dir: string;
  readonly #o: FileJournalOptions;
  #segments: Segment[] = [];
  #fd: number | null = null;
  /** Bytes in the active segment. */
  #size = 0;
  /** Bytes in all segments (for `maxBytes`). */
  #total = 0;
  #head: ChainHead | null = null;
  #start: ChainHead | null = null;
  #instance: string | null = null;
  writes = 0;

  constructor(dir: string, o: FileJournalOptions) {
    this.#dir = dir;
    this.#o = o;
    this.location = dir;
    if (!o.readOnly) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    } else if (!existsSync(dir)) throw new Error(`no audit journal at ${dir}`);
    this.#segments = readdirSync(dir)
      .filter((f) => /^\d{16}\.journal$/.test(f))
      .sort()
      .map((f) => ({ firstSeq: Number(f.slice(0, 16)), path: join(dir, f) }));
    for (const s of this.#segments) this.#total += statSync(s.path).size;
    // The head is the last whole line of the last segment that has one.
    for (let i = this.#segments.length - 1; i >= 0 && !this.#head; i--) {
      const seg = this.#segments[i];
      const text = readFileSync(seg.path, 'utf8');
      const end = text.lastIndexOf('\n');
      if (end + 1 < text.length && !o.readOnly && i === this.#segments.length - 1) {
        // A torn write (the process or machine died inside it): its records were never
        // acknowledged, so they are cut off.
        const keep = Buffer.byteLength(text.slice(0, end + 1));
        const fd = openSync(seg.path, 'r+');
        ftruncateSync(fd, keep);
        closeSync(fd);
        this.#total -= Buffer.byteLength(text) - keep;
      }
      if (end < 0) continue;
      const last = text.lastIndexOf('\n', end - 1);
      const r = parseLine(text.slice(last + 1, end), `${seg.path}: last line`);
      if (r.seq < 0) throw new Error(`the audit journal's last record in ${seg.path} is not readable: run pgwarden audit verify`);
      this.#head = { seq: r.seq, hash: r.hash };
      this.#instance = r.instance;
    }
    const first = this.#segments.length ? this.#firstLine(this.#segments[0]) : null;
    if (first) this.#start = { seq: first.seq - 1, hash: first.prevHash };
    if (!o.readOnly) this.#openActive();
  }

  #openActive(): void {
    let seg = this.#segments[this.#segments.length - 1];
    if (!seg) {
      seg = { firstSeq: (this.#head?.seq ?? 0) + 1, path: join(this.#dir, segmentName((this.#head?.seq ?? 0) + 1)) };
      this.#segments.push(seg);
    }
    ensurePrivateFile(seg.path, []);
    this.#fd = openSync(seg.path, 'a', 0o600);
    this.#size = statSync(seg.path).size;
  }

  /** The first record of a segment (reads only as far as its first newline). */
  #firstLine(seg: Segment): StoredRecord | null {
    const fd = openSync(seg.path, 'r');
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(64 * 1024);
      for (let pos = 0; ; ) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) return null;
        const nl = buf.subarray(0, n).indexOf(10);
        if (nl >= 0) {
          chunks.push(Buffer.from(buf.subarray(0, nl)));
          return parseLine(Buffer.concat(chunks).toString('utf8'), `${seg.path}: line 1`);
        }
        chunks.push(Buffer.from(buf.subarray(0, n)));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
  }

  head(): ChainHead | null {
    return this.#head;
  }

  instance(): string | null {
    return this.#instance;
  }

  start(): ChainHead | null {
    return this.#start;
  }

  append(records: StoredRecord[]): void {
    if (this.#fd === null) throw new Error('the audit journal is not open for writing');
    if (records.length === 0) return;
    let text = '';
    for (const r of records) text += journalLine(r);
    const buf = Buffer.from(text, 'utf8');
    if (this.#size > 0 && this.#size + buf.length > this.#o.segmentBytes) this.#rotate(records[0].seq);
    const before = this.#size;
    try {
      if (this.#o.maxBytes !== undefined && this.#total + buf.length > this.#o.maxBytes) {
        throw Object.assign(new Error(`ENOSPC: no space left on device, write (the journal is capped at ${this.#o.maxBytes} bytes)`), { code: 'ENOSPC' });
      }
      for (let off = 0; off < buf.length; ) off += writeSync(this.#fd, buf, off, buf.length - off);
    } catch (err) {
      // Cut off what part of the group reached the file: the chain did not take it.
      try {
        ftruncateSync(this.#fd, before);
      } catch {
        // The next open cuts a torn line off; a whole one would be refused there.
      }
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') throw new Error(`the disk of the audit journal ${this.location} is full (${e.message})`, { cause: err });
      throw new Error(`the audit journal ${this.location} cannot be written (${e.message})`, { cause: err });
    }
    this.writes++;
    this.#size += buf.length;
    this.#total += buf.length;
    const last = records[records.length - 1];
    if (!this.#start) this.#start = { seq: records[0].seq - 1, hash: records[0].prevHash };
    this.#head = { seq: last.seq, hash: last.hash };
    this.#instance = last.instance;
  }

  #rotate(firstSeq: number): void {
    if (this.#fd !== null) {
      // The closed segment is complete on disk before the next one starts.
      fsyncSync(this.#fd);
      closeSync(this.#fd);
    }
    const seg = { firstSeq, path: join(this.#dir, segmentName(firstSeq)) };
    this.#segments.push(seg);
    ensurePrivateFile(seg.path, []);
    this.#fd = openSync(seg.path, 'a', 0o600);
    this.#size = 0;
    // The new file's name is durable too.
    const dirFd = openSync(this.#dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }

  sync(): Promise<void> {
    const fd = this.#fd;
    if (fd === null) return Promise.resolve();
    return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  async *read(after: number): AsyncIterable<StoredRecord[]> {
    const segs = this.#segments.slice();
    let from = 0;
    for (let i = 0; i < segs.length; i++) if (segs[i].firstSeq <= after + 1) from = i;
    for (let i = from; i < segs.length; i++) {
      let text: string;
      try {
        text = await readFile(segs[i].path, 'utf8');
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') continue; // deleted by retention meanwhile
        throw err;
      }
      let page: StoredRecord[] = [];
      let line = 0;
      for (let pos = 0; ; ) {
        const nl = text.indexOf('\n', pos);
        if (nl < 0) break; // a line being written now, or torn
        line++;
        const raw = text.slice(pos, nl);
        pos = nl + 1;
        // Catching up reads from a seq inside a segment: the lines before it are skipped unparsed.
        const quick = lineSeq(raw);
        if (quick >= 0 && quick <= after) continue;
        const r = parseLine(raw, `${segs[i].path}: line ${line}`);
        if (r.seq >= 0 && r.seq <= after) continue;
        page.push(r);
        if (page.length >= PAGE) {
          yield page;
          page = [];
        }
      }
      if (page.length) yield page;
    }
  }

  retain(before: number, indexed: number): { deleted: number; anchor: ChainHead | null } {
    let deleted = 0;
    let anchor: ChainHead | null = null;
    // Never the active segment; only a prefix, and only what the index already holds.
    while (this.#segments.length > 1) {
      const [seg, next] = this.#segments;
      const first = this.#firstLine(next);
      if (!first || first.seq < 0 || first.at >= before || first.seq - 1 > indexed) break;
      const size = statSync(seg.path).size;
      unlinkSync(seg.path);
      this.#total -= size;
      this.#segments.shift();
      deleted += first.seq - seg.firstSeq;
      anchor = { seq: first.seq - 1, hash: first.prevHash };
      this.#start = anchor;
    }
    return { deleted, anchor };
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

/**
 * A journal in memory (`store: memory`, tests): the same contract, with `failWrites` making
 * appends fail as a full disk would.
 */
export class MemoryJournal implements Journal {
  readonly location = 'memory';
  #records: StoredRecord[] = [];
  #start: ChainHead | null = null;
  /** While set, appends fail with this message. */
  failWrites: string | null = null;
  writes = 0;

  head(): ChainHead | null {
    const last = this.#records[this.#records.length - 1];
    return last ? { seq: last.seq, hash: last.hash } : this.#start;
  }

  instance(): string | null {
    return this.#records[this.#records.length - 1]?.instance ?? null;
  }

  start(): ChainHead | null {
    return this.#start;
  }

  append(records: StoredRecord[]): void {
    if (this.failWrites !== null) throw new Error(this.failWrites);
    if (records.length === 0) return;
    if (!this.#start) this.#start = { seq: records[0].seq - 1, hash: records[0].prevHash };
    for (const r of records) this.#records.push(r);
    this.writes++;
  }

  async sync(): Promise<void> {}

  /** Every record held, in seq order. */
  records(): readonly StoredRecord[] {
    return this.#records;
  }

  async *read(after: number): AsyncIterable<StoredRecord[]> {
    const out = this.#records.filter((r) => r.seq > after);
    for (let i = 0; i < out.length; i += PAGE) yield out.slice(i, i + PAGE);
  }

  retain(before: number, indexed: number): { deleted: number; anchor: ChainHead | null } {
    let n = 0;
    while (n < this.#records.length - 1 && this.#records[n].at < before && this.#records[n].seq <= indexed) n++;
    if (n === 0) return { deleted: 0, anchor: null };
    const last = this.#records[n - 1];
    this.#records = this.#records.slice(n);
    this.#start = { seq: last.seq, hash: last.hash };
    return { deleted: n, anchor: this.#start };
  }

  close(): void {}
}
