/**
 * One client session relayed to its upstream connection.
 *
 * Client → upstream: the client's bytes are framed into whole messages (capped at
 * `limits.max_message_size`); only the tag of each is looked at, and frames go upstream as the
 * same bytes, written once per chunk. Upstream → client: a `StreamScanner` forwards untouched
 * runs of bytes and stops only at ReadyForQuery, which tells the transaction status and closes
 * one request cycle.
 *
 * Replies the gateway makes itself (a refused FunctionCall, a FATAL) MUST reach the client in
 * protocol order: after every response the upstream still owes for messages sent before them.
 * `cycles` counts the ReadyForQuery messages the upstream owes (one per Query, Sync and
 * FunctionCall forwarded); a local reply waits in `outbox` until the cycles before it have
 * completed and the upstream stream stands between two messages.
 *
 * Backpressure: when one side's socket buffer is full, the other side's reads are paused until
 * it drains, so a large result streams with flat memory.
 */
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import {
  BE,
  FE,
  MessageFramer,
  MessageTooLargeError,
  ProtocolError,
  StreamScanner,
  TERMINATE,
  type TxStatus,
  encodeErrorResponse,
  encodeReadyForQuery,
} from '../protocol/index.ts';

export interface SessionOptions {
  client: Duplex;
  upstream: Duplex;
  identity: Identity;
  logger: Logger;
  maxMessageSize: number;
  /** Epoch ms after which the next statement ends the session (token expiry + grace). */
  expiresAt: number;
  onClose?: (reason: string) => void;
}

interface LocalReply {
  /** ReadyForQuery cycles of the upstream that must complete first. */
  after: number;
  bytes: Buffer[];
  /** Appends a ReadyForQuery with the status current at send time. */
  readyForQuery: boolean;
  /** Ends the session once sent. */
  fatal: boolean;
}

export function errorResponse(err: GatewayError, severity: 'ERROR' | 'FATAL' = err.severity): Buffer {
  return encodeErrorResponse({ severity, code: err.sqlstate, message: err.message, detail: err.detail, hint: err.hint });
}

export class Session {
  readonly identity: Identity;
  private readonly client: Duplex;
  private readonly upstream: Duplex;
  private readonly log: Logger;
  private readonly framer: MessageFramer;
  private readonly scanner: StreamScanner;
  private expiresAt: number;
  /** ReadyForQuery messages the upstream still owes. */
  private cycles = 0;
  /** ReadyForQuery messages the upstream has delivered so far. */
  private completed = 0;
  private readonly outbox: LocalReply[] = [];
  private txStatus: TxStatus = 'I';
  private closed = false;
  private ending = false;
  private readonly onClose?: (reason: string) => void;
  private out: Buffer[] = [];

  constructor(o: SessionOptions) {
    this.identity = o.identity;
    this.client = o.client;
    this.upstream = o.upstream;
    this.log = o.logger;
    this.expiresAt = o.expiresAt;
    this.onClose = o.onClose;
    this.framer = new MessageFramer(o.maxMessageSize);
    this.scanner = new StreamScanner(1024 * 1024);
    this.scanner.interesting[BE.ReadyForQuery] = 1;
  }

  /**
   * Start relaying. The caller MUST have written everything the client is owed before this
   * (AuthenticationOk … ReadyForQuery), since upstream bytes flow to the client from here on.
   */
  start(leftover?: Buffer | null, upstreamLeftover?: Buffer | null): void {
    this.client.on('data', (c: Buffer) => this.fromClient(c));
    this.client.on('error', (e) => this.close(`client error: ${e.message}`));
    this.client.on('close', () => this.close('client closed the connection'));
    this.client.on('drain', () => this.upstream.resume());
    this.upstream.on('data', (c: Buffer) => this.fromUpstream(c));
    this.upstream.on('error', (e) => this.upstreamGone(`upstream error: ${e.message}`));
    this.upstream.on('close', () => this.upstreamGone('upstream closed the connection'));
    this.upstream.on('drain', () => this.client.resume());
    if (upstreamLeftover) this.fromUpstream(upstreamLeftover);
    if (leftover) this.fromClient(leftover);
    this.client.resume();
    this.upstream.resume();
  }

  get transactionStatus(): TxStatus {
    return this.txStatus;
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer): void {
    if (this.closed || this.ending) return;
    try {
      this.framer.push(chunk, this.onClientFrame);
    } catch (err) {
      this.protocolFailure(err);
      return;
    }
    this.flushUpstream();
  }

  private readonly onClientFrame = (tag: number, frame: Buffer): void => {
    if (this.ending) return;
    switch (tag) {
      case FE.Query:
      case FE.Parse:
      case FE.Execute:
        if (Date.now() > this.expiresAt) {
          this.endWith(new GatewayError('session.token_expired', `pgwarden: the token of ${this.identity.subject} has expired; the session is ended`));
          return;
        }
        if (tag === FE.Query) this.cycles++;
        this.forward(frame);
        return;
      case FE.Sync:
        this.cycles++;
        this.forward(frame);
        return;
      case FE.FunctionCall:
        // The fast-path function call names a function by OID with no SQL text to analyse.
        this.reply(new GatewayError('protocol.unsupported', 'pgwarden: the FunctionCall message is not supported', {
          hint: 'Call the function with a SELECT statement instead.',
        }));
        return;
      case FE.Terminate:
        this.forward(frame);
        this.flushUpstream();
        this.ending = true;
        this.upstream.end();
        this.client.end();
        return;
      default:
        this.forward(frame);
    }
  };

  /**
   * Queue a frame for the upstream. Frames that lie back to back in the same input chunk are
   * merged into one view, so an untouched pipelined batch goes upstream as the bytes it came in.
   */
  private forward(frame: Buffer): void {
    const out = this.out;
    const last = out.length > 0 ? out[out.length - 1] : undefined;
    if (last && last.buffer === frame.buffer && last.byteOffset + last.length === frame.byteOffset) {
      out[out.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + frame.length);
    } else out.push(frame);
  }

  private flushUpstream(): void {
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    let ok: boolean;
    if (out.length === 1) ok = this.upstream.write(out[0]);
    else {
      this.upstream.cork();
      for (const b of out) this.upstream.write(b);
      this.upstream.uncork();
      ok = !this.upstream.writableNeedDrain;
    }
    if (!ok) this.client.pause();
  }

  // ---- upstream → client ---------------------------------------------------------------------

  private readonly sink = {
    pass: (bytes: Buffer) => {
      this.client.write(bytes);
    },
    message: (tag: number, frame: Buffer) => {
      // Only ReadyForQuery is marked interesting.
      void tag;
      this.txStatus = String.fromCharCode(frame[5]) as TxStatus;
      this.client.write(frame);
      this.completed++;
      this.drainOutbox();
    },
  };

  private fromUpstream(chunk: Buffer): void {
    if (this.closed) return;
    this.client.cork();
    try {
      this.scanner.push(chunk, this.sink);
    } catch (err) {
      this.client.uncork();
      this.log.error({ err: (err as Error).message }, 'upstream sent a malformed message');
      this.endWith(new GatewayError('upstream.lost', 'pgwarden: the database sent a malformed message; the session is ended'));
      return;
    }
    this.drainOutbox();
    this.client.uncork();
    if (this.client.writableNeedDrain) this.upstream.pause();
  }

  // ---- replies made by the gateway -----------------------------------------------------------

  /** Answer a request cycle locally with an error followed by ReadyForQuery. */
  private reply(err: GatewayError): void {
    this.flushUpstream();
    this.cycles++;
    this.outbox.push({ after: this.cycles - 1, bytes: [errorResponse(err)], readyForQuery: true, fatal: false });
    this.drainOutbox();
  }

  private drainOutbox(): void {
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      if (this.completed < head.after || !this.scanner.atBoundary) return;
      this.outbox.shift();
      for (const b of head.bytes) this.client.write(b);
      if (head.readyForQuery) {
        this.client.write(encodeReadyForQuery(this.txStatus));
        this.completed++;
      }
      if (head.fatal) {
        this.finish('ended by the gateway');
        return;
      }
    }
  }

  /**
   * End the session with a FATAL error, in protocol order when the upstream stream allows it.
   * Used for an expired token at the next statement.
   */
  private endWith(err: GatewayError): void {
    this.flushUpstream();
    this.ending = true;
    this.log.info({ subject: this.identity.subject, reason: err.message }, 'session ended');
    this.outbox.push({ after: this.cycles, bytes: [errorResponse(err, 'FATAL')], readyForQuery: false, fatal: true });
    this.drainOutbox();
  }

  /**
   * End the session now (revocation, shutdown): a FATAL error when the client's stream stands
   * between two messages, then close both sides. Results in flight are not waited for.
   */
  terminate(err: GatewayError): void {
    if (this.closed) return;
    this.ending = true;
    if (this.scanner.atBoundary) this.client.write(errorResponse(err, 'FATAL'));
    this.log.info({ subject: this.identity.subject, reason: err.message }, 'session terminated');
    this.finish(err.message);
  }

  private protocolFailure(err: unknown): void {
    const message =
      err instanceof MessageTooLargeError
        ? `pgwarden: ${err.message}`
        : err instanceof ProtocolError
          ? `pgwarden: invalid message from the client: ${err.message}`
          : 'pgwarden: invalid message from the client';
    const code = err instanceof MessageTooLargeError ? 'protocol.message_too_large' : 'protocol.violation';
    this.log.warn({ subject: this.identity.subject, err: (err as Error).message }, 'protocol violation; closing the connection');
    this.ending = true;
    if (this.scanner.atBoundary) this.client.write(errorResponse(new GatewayError(code, message), 'FATAL'));
    this.finish('protocol violation');
  }

  private upstreamGone(reason: string): void {
    if (this.closed) return;
    if (!this.ending && this.scanner.atBoundary && !this.client.destroyed) {
      this.client.write(errorResponse(new GatewayError('upstream.lost', 'pgwarden: the connection to the database was lost'), 'FATAL'));
    }
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ending = true;
    if (!this.upstream.destroyed && !this.upstream.writableEnded) this.upstream.end(TERMINATE);
    if (!this.client.destroyed && !this.client.writableEnded) this.client.end();
    // Make sure both sockets go away even if a peer never acknowledges the close.
    setTimeout(() => {
      this.upstream.destroy();
      this.client.destroy();
    }, 2000).unref();
    this.onClose?.(reason);
  }

  private close(reason: string): void {
    this.finish(reason);
  }
}
