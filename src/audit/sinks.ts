/**
 * Streaming copies of the log for a SIEM: JSON lines to a file (rotated by size) or to standard
 * output. A sink receives each committed batch after the store has it; it MUST NOT block or fail
 * the writer: errors are logged (once per burst) and the batch is dropped from that sink only.
 */
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, write } from 'node:fs';
import { ensurePrivateFile } from '../private-files.ts';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import type { StoredRecord } from './chain.ts';
import type { JsonlSinkConfig } from './schema.ts';
import { checkpointLine, type Checkpoint } from './checkpoint.ts';

export interface RecordSink {
  /** Queue committed records; returns at once. */
  write(records: readonly StoredRecord[]): void;
  /** Queue a head checkpoint line (after the records written so far). */
  checkpoint?(c: Checkpoint): void;
  /** Wait for queued writes, then release the file. */
  close(): Promise<void>;
}

/**
 * One JSON object per line: the hashed body's fields, then `prevHash`, `hash` and an ISO `time`,
 * so a SIEM can both index the record and re-check its hash.
 */
export function jsonLine(r: StoredRecord): string {
  return `${r.body.slice(0, -1)},"prevHash":"${r.prevHash}","hash":"${r.hash}","time":"${new Date(r.at).toISOString()}"}\n`;
}

export function openSinks(configs: readonly JsonlSinkConfig[], logger: Logger, baseDir: string): RecordSink[] {
  return configs.map((c) => (c.jsonl === '-' ? new StdoutSink() : new JsonlFileSink(resolveFrom(baseDir, c.jsonl), c.rotate_bytes, c.keep, logger)));
}

function resolveFrom(baseDir: string, path: string): string {
  return path.startsWith('/') ? path : `${baseDir.replace(/\/$/, '')}/${path}`;
}

export class StdoutSink implements RecordSink {
  write(records: readonly StoredRecord[]): void {
    let chunk = '';
    for (const r of records) chunk += jsonLine(r);
    process.stdout.write(chunk);
  }
  checkpoint(c: Checkpoint): void {
    process.stdout.write(checkpointLine(c));
  }
  async close(): Promise<void> {}
}

export class JsonlFileSink implements RecordSink {
  readonly #path: string;
  readonly #rotateBytes: number | undefined;
  readonly #keep: number;
  readonly #logger: Logger;
  #fd: number | null = null;
  #size = 0;
  #queue: string[] = [];
  #writing: Promise<void> | null = null;
  #failing = false;

  constructor(path: string, rotateBytes: number | undefined, keep: number, logger: Logger) {
    this.#path = path;
    this.#rotateBytes = rotateBytes;
    this.#keep = keep;
    this.#logger = logger;
  }

  write(records: readonly StoredRecord[]): void {
    for (const r of records) this.#queue.push(jsonLine(r));
    this.#kick();
  }

  checkpoint(c: Checkpoint): void {
    this.#queue.push(checkpointLine(c));
    this.#kick();
  }

  #kick(): void {
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = null;
    });
  }

  /** The queued lines that fit before the next rotation (at least one), joined. */
  #takeChunk(): Buffer {
    const room = this.#rotateBytes === undefined ? Infinity : Math.max(1, this.#rotateBytes - this.#size);
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length) {
      const len = Buffer.byteLength(this.#queue[n]);
      if (n > 0 && bytes + len > room) break;
      bytes += len;
      n++;
      if (bytes > room) break;
    }
    return Buffer.from(this.#queue.splice(0, n).join(''));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      try {
        if (this.#fd === null) this.#open();
        await this.#writeChunk(this.#takeChunk());
        if (this.#failing) this.#logger.info({ sink: this.#path }, 'audit sink writing again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) this.#logger.error({ sink: this.#path, err: (err as Error).message }, 'audit sink write failed; records are kept in the store');
        this.#failing = true;
        this.#closeFd();
        // Drop what could not be written: the store has it, and a dead sink must not grow memory.
        this.#queue = [];
      }
    }
  }

  async #writeChunk(buf: Buffer): Promise<void> {
    if (this.#rotateBytes !== undefined && this.#size > 0 && this.#size + buf.length > this.#rotateBytes) {
      this.#rotate();
      this.#open();
    }
    let off = 0;
    while (off < buf.length) {
      off += await new Promise<number>((resolve, reject) => write(this.#fd as number, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
    }
    this.#size += buf.length;
  }

  #open(): void {
    ensurePrivateFile(this.#path, []);
    this.#fd = openSync(this.#path, 'a', 0o600);
    this.#size = fstatSync(this.#fd).size;
  }

  #closeFd(): void {
    if (this.#fd !== null) {
      try {
        closeSync(this.#fd);
      } catch {
        // Already unusable; a new one is opened on the next write.
      }
    }
    this.#fd = null;
  }

  /** file → file.1 → file.2 …; the oldest beyond `keep` is removed. */
  #rotate(): void {
    this.#closeFd();
    const oldest = `${this.#path}.${this.#keep}`;
    if (existsSync(oldest)) rmSync(oldest, { force: true });
    for (let i = this.#keep - 1; i >= 1; i--) {
      const from = `${this.#path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.#path}.${i + 1}`);
    }
    renameSync(this.#path, `${this.#path}.1`);
  }

  async close(): Promise<void> {
    while (this.#writing) await this.#writing;
    this.#closeFd();
  }
}
