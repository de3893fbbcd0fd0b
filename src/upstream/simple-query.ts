/**
 * A small simple-query client over an authenticated upstream connection, for the gateway's own
 * work (loading the catalog, the demo's setup). Only text results of the simple Query protocol
 * are read; one query at a time.
 */
import type net from 'node:net';
import { BE, MessageFramer, TERMINATE, decodeDataRow, decodeFields, encodeQuery } from '../protocol/index.ts';

export interface SqlSession {
  /** Run one simple Query (it may hold several statements); resolves with the rows of the last result. */
  query(text: string): Promise<(string | null)[][]>;
  /** Run one simple Query of several statements; resolves with the rows of each result, in order. */
  queryAll?(text: string): Promise<(string | null)[][][]>;
  close(): Promise<void>;
}

/** An error the server sent, with its SQLSTATE. */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

export class SimpleQuerySession implements SqlSession {
  readonly #socket: net.Socket;
  readonly #framer = new MessageFramer(64 * 1024 * 1024);
  #pending: { resolve(results: (string | null)[][][]): void; reject(err: Error): void } | null = null;
  /** The rows of each result of the running query (a RowDescription starts one). */
  #results: (string | null)[][][] = [];
  #rows: (string | null)[][] = [];
  #error: ServerError | null = null;
  #broken: Error | null = null;
  readonly #onNotification?: (channel: string, payload: string) => void;

  /** `onNotification`: NotificationResponse messages (after LISTEN), as they arrive. */
  constructor(socket: net.Socket, onNotification?: (channel: string, payload: string) => void) {
    this.#socket = socket;
    this.#onNotification = onNotification;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#framer.push(chunk, (tag, frame) => this.#onFrame(tag, frame));
      } catch (err) {
        this.#fail(err as Error);
      }
    });
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
    socket.resume();
  }

  async query(text: string): Promise<(string | null)[][]> {
    const results = await this.queryAll(text);
    return results[results.length - 1] ?? [];
  }

  queryAll(text: string): Promise<(string | null)[][][]> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#pending) return Promise.reject(new Error('one query at a time'));
    this.#results = [];
    this.#error = null;
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(encodeQuery(text));
    });
  }

  /** Whether the connection is gone (the caller opens another). */
  get broken(): boolean {
    return this.#broken !== null;
  }

  async close(): Promise<void> {
    if (this.#socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end(TERMINATE);
      setTimeout(() => this.#socket.destroy(), 2000).unref();
    });
  }

  #onFrame(tag: number, frame: Buffer): void {
    switch (tag) {
      case BE.RowDescription:
        this.#rows = [];
        this.#results.push(this.#rows);
        return;
      case BE.DataRow:
        this.#rows.push(decodeDataRow(frame));
        return;
      case BE.ErrorResponse: {
        const f = decodeFields(frame);
        this.#error ??= new ServerError(`${f.M ?? 'error'}${f.D ? ` (${f.D})` : ''}`, f.C ?? '');
        return;
      }
      case BE.ReadyForQuery: {
        const pending = this.#pending;
        this.#pending = null;
        if (this.#error) pending?.reject(this.#error);
        else pending?.resolve(this.#results);
        return;
      }
      case BE.NotificationResponse: {
        // Int32 pid, channel, payload (NUL-terminated).
        const body = frame.subarray(9);
        const nul = body.indexOf(0);
        const end = body.indexOf(0, nul + 1);
        this.#onNotification?.(body.toString('utf8', 0, nul), body.toString('utf8', nul + 1, end < 0 ? body.length : end));
        return;
      }
      default:
        // CommandComplete, NoticeResponse, ParameterStatus, EmptyQueryResponse: nothing to keep.
        return;
    }
  }

  #fail(err: Error): void {
    this.#broken ??= err;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(err);
    this.#socket.destroy();
  }
}

