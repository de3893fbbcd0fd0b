/**
 * A minimal PostgreSQL client over the in-memory channel `openInternal` returns: the MCP tools
 * speak to the session pipeline with the same messages a driver sends (Parse, Bind, Describe,
 * Execute, Sync), so decision, audit and masking are the wire path's own.
 *
 * Only what the tools need: one extended-protocol round trip at a time, text parameters and text
 * results. A refusal or a database error is an `ErrorResponse`; it is returned as data (its
 * fields), never thrown, because the tools hand it back to the model as a tool error. A broken
 * stream (FATAL, closed channel, protocol violation) rejects the pending call and ends the client.
 */
import type { Duplex } from 'node:stream';
import {
  BE,
  MessageFramer,
  ProtocolError,
  SYNC,
  TERMINATE,
  decodeCommandComplete,
  decodeDataRow,
  decodeFields,
  decodeRowDescription,
  encodeBind,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  type FieldDescription,
  type FieldMap,
} from '../protocol/index.ts';

/** Largest message accepted from the session (a row of a wide table, with room to spare). */
const MAX_MESSAGE = 64 * 1024 * 1024;

export interface ExtendedResult {
  /** Empty when the statement returns no rows (NoData). */
  fields: FieldDescription[];
  /** Text cells, NULL as null; at most the requested row count. */
  rows: (string | null)[][];
  /** The CommandComplete tag, absent when the portal was suspended or the statement failed. */
  tag?: string;
  /** True when the row limit stopped the portal before its end. */
  suspended: boolean;
  /** The ErrorResponse fields, keyed by field letter (M message, C SQLSTATE, H hint …). */
  error?: FieldMap;
  /** NoticeResponse messages received during the call. */
  notices: string[];
}

interface Pending {
  result: ExtendedResult;
  resolve(r: ExtendedResult): void;
  reject(err: Error): void;
}

export class WireClient {
  private readonly framer = new MessageFramer(MAX_MESSAGE);
  private pending: Pending | null = null;
  private hello: { resolve(): void; reject(err: Error): void } | null = null;
  private failure: Error | null = null;
  private ended = false;

  private constructor(private readonly channel: Duplex) {
    channel.on('data', (chunk: Buffer) => {
      try {
        this.framer.push(chunk, (tag, frame) => this.onMessage(tag, frame));
      } catch (err) {
        this.fail(err instanceof ProtocolError ? new Error(`the session sent an invalid message: ${err.message}`) : (err as Error));
      }
    });
    channel.on('close', () => this.fail(new Error('the database session ended')));
    channel.on('end', () => this.fail(new Error('the database session ended')));
    channel.on('error', (err) => this.fail(err));
  }

  /**
   * Wrap the client end of an internal session: waits for the session's greeting
   * (AuthenticationOk, ParameterStatus*, BackendKeyData, ReadyForQuery).
   */
  static async open(channel: Duplex): Promise<WireClient> {
    const c = new WireClient(channel);
    await new Promise<void>((resolve, reject) => {
      c.hello = { resolve, reject };
    });
    return c;
  }

  get closed(): boolean {
    return this.ended;
  }

  /**
   * Parse, Bind (text parameters), Describe portal, Execute (at most `maxRows` rows; 0 = all),
   * Sync — all unnamed — and collect the answer up to ReadyForQuery.
   */
  extended(sql: string, params: (string | null)[], maxRows: number): Promise<ExtendedResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('one call at a time on an internal session'));
    return new Promise<ExtendedResult>((resolve, reject) => {
      this.pending = { result: { fields: [], rows: [], suspended: false, notices: [] }, resolve, reject };
      this.channel.write(Buffer.concat([encodeParse('', sql), encodeBind('', '', params), encodeDescribe('P', ''), encodeExecute('', maxRows), SYNC]));
    });
  }

  /** End the session politely (Terminate) and release the channel. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.channel.destroyed) this.channel.end(TERMINATE);
    setTimeout(() => this.channel.destroy(), 1000).unref();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.ended = true;
    const p = this.pending;
    const h = this.hello;
    this.pending = null;
    this.hello = null;
    p?.reject(this.failure);
    h?.reject(this.failure);
    if (!this.channel.destroyed) this.channel.destroy();
  }

  private onMessage(tag: number, frame: Buffer): void {
    if (this.hello) {
      if (tag === BE.ReadyForQuery) {
        const h = this.hello;
        this.hello = null;
        h.resolve();
      } else if (tag === BE.ErrorResponse) {
        this.fail(new Error(decodeFields(frame).M ?? 'the session could not start'));
      }
      return;
    }
    const p = this.pending;
    switch (tag) {
      case BE.RowDescription:
        if (p) p.result.fields = decodeRowDescription(frame);
        return;
      case BE.DataRow:
        if (p) p.result.rows.push(decodeDataRow(frame));
        return;
      case BE.CommandComplete:
        if (p) p.result.tag = decodeCommandComplete(frame);
        return;
      case BE.PortalSuspended:
        if (p) p.result.suspended = true;
        return;
      case BE.NoticeResponse:
        if (p) p.result.notices.push(decodeFields(frame).M ?? '');
        return;
      case BE.ErrorResponse: {
        const fields = decodeFields(frame);
        if (fields.V === 'FATAL' || fields.S === 'FATAL' || fields.V === 'PANIC') {
          this.fail(new FatalSessionError(fields));
          return;
        }
        if (p) p.result.error ??= fields;
        return;
      }
      case BE.ReadyForQuery:
        if (p) {
          this.pending = null;
          p.resolve(p.result);
        }
        return;
      default:
        // ParseComplete, BindComplete, NoData, EmptyQueryResponse, ParameterStatus,
        // NotificationResponse: nothing a tool reports.
        return;
    }
  }
}

/** The session ended with a FATAL error (token expired, revoked, shutdown): its fields, for the tool. */
export class FatalSessionError extends Error {
  constructor(readonly fields: FieldMap) {
    super(fields.M ?? 'the database session ended');
    this.name = 'FatalSessionError';
  }
}

