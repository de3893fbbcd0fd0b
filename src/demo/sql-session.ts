/**
 * A small simple-query client for the demo's setup work (creating the role, the database and the
 * sample data). It signs in through the gateway's own upstream connector, so the demo needs no
 * separate driver and authenticates exactly as the gateway will (SCRAM, md5, cleartext, trust).
 *
 * Only text results of the simple Query protocol are read; that is all setup needs.
 */
import net from 'node:net';
import { BE, MessageFramer, TERMINATE, decodeFields, encodeQuery } from '../protocol/index.ts';
import { ScramKeyCache, connectUpstream, targetFromUrl } from '../upstream/index.ts';

export interface SqlSession {
  /** Run one simple Query (it may hold several statements); resolves with the rows of the last result. */
  query(text: string): Promise<(string | null)[][]>;
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

const TLS_MODES = new Set(['require', 'verify-ca', 'verify-full']);

/** Connect with a `postgres://user:password@host:port/db[?sslmode=…]` URL. */
export async function openSql(url: string, connectTimeoutMs = 10_000): Promise<SqlSession> {
  const sslmode = new URL(url).searchParams.get('sslmode') ?? 'disable';
  const mode = TLS_MODES.has(sslmode) ? (sslmode as 'require' | 'verify-ca' | 'verify-full') : 'disable';
  const target = targetFromUrl('demo', url, { tls: { mode }, connectTimeoutMs });
  let conn;
  try {
    conn = await connectUpstream(target, { application_name: 'pgwarden-demo' }, new ScramKeyCache());
  } catch (err) {
    // The connector keeps the server's words in `cause` (they never reach gateway clients); the
    // person running the demo needs them to fix the URL.
    const why = (err as { cause?: Error }).cause?.message;
    throw new Error(`cannot connect to ${target.host}:${target.port} as ${target.user}${why ? `: ${why}` : ''}`, { cause: err });
  }
  return new Session(conn.socket);
}

class Session implements SqlSession {
  readonly #socket: net.Socket;
  readonly #framer = new MessageFramer(64 * 1024 * 1024);
  #pending: { resolve(rows: (string | null)[][]): void; reject(err: Error): void } | null = null;
  #rows: (string | null)[][] = [];
  #error: ServerError | null = null;
  #broken: Error | null = null;

  constructor(socket: net.Socket) {
    this.#socket = socket;
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

  query(text: string): Promise<(string | null)[][]> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#pending) return Promise.reject(new Error('one query at a time'));
    this.#rows = [];
    this.#error = null;
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(encodeQuery(text));
    });
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
        else pending?.resolve(this.#rows);
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

/** DataRow: Int16 column count, then per column Int32 length (-1 for NULL) and the text bytes. */
function decodeDataRow(frame: Buffer): (string | null)[] {
  const count = frame.readInt16BE(5);
  const out: (string | null)[] = [];
  let pos = 7;
  for (let i = 0; i < count; i++) {
    const len = frame.readInt32BE(pos);
    pos += 4;
    if (len < 0) out.push(null);
    else {
      out.push(frame.toString('utf8', pos, pos + len));
      pos += len;
    }
  }
  return out;
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
