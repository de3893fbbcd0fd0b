/**
 * The stages of a statement, in order, with the errors each can give a client: the one list of
 * the engine's order of checks (docs/architecture.md §3 explains each step). The stage list is
 * code, not only documentation: `StageClock` measures the engine's time in the clock buckets the
 * stages name, the bench prints it per statement (`npm run bench -- --profile`), and
 * pipeline.test.ts holds the list to `ERROR_CODES` and to the codes the engine's files raise.
 *
 *   frame → analyse → decide → review → audit → forward → track result → mask → complete
 *
 * A refusal at any stage before `forward` means nothing of the statement reaches the server; it
 * is answered with an ErrorResponse (or a refusal marker in its place, see session.ts) and the
 * session goes on, unless the error is FATAL.
 */
import { ERROR_CODES, type ErrorCode } from '../errors.ts';

/** Where a stage's time is counted by `StageClock` (what the bench's table shows). */
export type ClockBucket = 'analyse' | 'decide' | 'audit' | 'relay' | 'mask';
export const CLOCK_BUCKETS: readonly ClockBucket[] = ['analyse', 'decide', 'audit', 'relay', 'mask'];

/** Where a top-level piece of work came from: a read from the client or from the server. */
export type ChunkSource = 'client' | 'upstream';

export interface StageError {
  code: ErrorCode;
  /** The SQLSTATE the client gets: the code's own, or the one PostgreSQL gives for that case. */
  sqlstate: string;
  when: string;
}

export interface Stage {
  name: 'frame' | 'analyse' | 'decide' | 'review' | 'audit' | 'forward' | 'track result' | 'mask' | 'complete';
  /** What the stage does, and where. */
  does: string;
  errors: readonly StageError[];
  /** The bucket its time is counted in. */
  clock: ClockBucket;
}

/** An error of a stage with the code's SQLSTATE, or `sqlstate` where PostgreSQL's own differs. */
function e(code: ErrorCode, when: string, sqlstate: string = ERROR_CODES[code].sqlstate): StageError {
  return { code, sqlstate, when };
}

export const STAGES: readonly Stage[] = [
  {
    name: 'frame',
    does: 'Frame the client bytes into whole messages (MessageFramer), within the message, statement and buffer limits; check the token has not expired. Session.fromClient.',
    clock: 'relay',
    errors: [
      e('protocol.violation', 'a message cannot be framed (FATAL)'),
      e('protocol.malformed', 'a framed Query, Parse, Bind, Execute, Describe or Close whose content cannot be read, as PostgreSQL answers it; the session goes on'),
      e('protocol.message_too_large', 'a message over limits.max_message_size (FATAL)'),
      e('sql.too_large', 'a Query or Parse text over limits.max_statement_size, skipped unread'),
      e('protocol.buffer_limit', 'client bytes held over the per-identity or total cap (FATAL)'),
      e('protocol.unsupported', 'a FunctionCall message'),
      e('session.token_expired', 'a Query, Parse or Execute after the token expired (FATAL)'),
    ],
  },
  {
    name: 'analyse',
    does: 'Analyse the text along every search_path it may run under (sql.analyse, cached), and resolve the prepared statements and cursors it names in the ledger. PolicyGate.check.',
    clock: 'analyse',
    errors: [
      e('sql.syntax', 'the text does not parse, or a Parse holds more than one statement'),
      e('sql.too_complex', 'the parser ran out of memory or stack'),
      e('sql.too_many_nodes', 'a parse tree over limits.max_statement_nodes, counted on the parse worker'),
      e('sql.unsupported', 'the analysis threw'),
      e('internal', 'no catalog snapshot could be loaded'),
      e('policy.denied', 'names resolve differently under the possible search_paths, or a name is uncertain in the ledger'),
      e('policy.denied', 'Bind of a prepared statement the connection does not have', '26000'),
      e('policy.denied', 'Execute of a portal the connection does not have', '34000'),
    ],
  },
  {
    name: 'decide',
    does: 'The policy decision (policy.decide), then governed renames and masking refusals. PolicyGate.judge.',
    clock: 'decide',
    errors: [
      e('policy.denied', 'the policy, a governed rename or a masking rule refuses it'),
      e('pool.session_state', 'it would pin the session to one server connection, and the upstream’s transaction pool refuses that (on_session_state: refuse)'),
      e('pool.pinned_limit', 'it would pin the session to one server connection, and the identity already has pool.max_pinned_per_identity sessions pinned'),
    ],
  },
  {
    name: 'review',
    does: 'Hold a statement a review rule names until it is approved (wait) or refuse it until then (defer). PolicyGate.review → reviewPort.settle.',
    clock: 'decide',
    errors: [
      e('review.required', 'defer mode: a review was requested, run the statement again once approved'),
      e('review.rejected', 'an approver rejected it'),
      e('review.expired', 'no approval in time'),
      e('review.cancelled', 'the client cancelled or disconnected while it waited'),
    ],
  },
  {
    name: 'audit',
    does: 'The write-ahead record of the statement, durable before its bytes are forwarded. AuditFollower.begin / Session.flushUpstream.',
    clock: 'audit',
    errors: [e('audit.unavailable', 'the record could not be written (fail closed; FATAL)')],
  },
  {
    name: 'forward',
    does: 'Write the allowed bytes to the upstream lease, as they came (or a refusal marker in place of a refused message). Session.forward / writeUpstream.',
    clock: 'relay',
    errors: [e('statement.cancelled', 'a cancel kept during the gateway’s search_path read-back met the client’s next Query or Execute before anything of the client’s went upstream: answered in its place (Session.cancelHere)')],
  },
  {
    name: 'track result',
    does: 'Follow the server’s responses per statement and portal (ResultTracker), and end a result past the scope’s max_rows (RowLimit).',
    clock: 'mask',
    errors: [e('policy.denied', 'a wire result longer than the scope’s max_rows', '54000')],
  },
  {
    name: 'mask',
    does: 'Rewrite masked cells of DataRow and CopyData, and scrub server errors. maskingPort via ResultTracker.',
    clock: 'mask',
    errors: [e('upstream.lost', 'a response could not be framed or masked safely (FATAL)')],
  },
  {
    name: 'complete',
    does: 'The outcome record (AuditFollower.response); at ReadyForQuery the ledger and search_path apply the cycle (PolicyGate.cycleDone).',
    clock: 'relay',
    errors: [
      e('upstream.lost', 'the server connection closed without a FATAL of its own (FATAL)'),
      e('session.terminated', 'the server left a pinned lexing setting (FATAL)'),
    ],
  },
];

/**
 * Errors given outside a statement's pipeline: while a connection signs in, while a session is
 * opened (engine/open.ts), when it is ended from outside, and on the HTTP surfaces.
 */
export const OUTSIDE_PIPELINE: Readonly<Partial<Record<ErrorCode, string>>> = {
  'auth.missing_token': 'handshake and HTTP: no token',
  'auth.invalid_token': 'token verification',
  'auth.expired': 'token verification',
  'auth.unknown_issuer': 'token verification',
  'auth.idp_unavailable': 'token verification: JWKS or discovery unreachable',
  'auth.revoked': 'token verification, session open, and revocation of open sessions',
  'auth.no_scope': 'handshake and session open: no policy for the identity and database',
  'auth.wrong_user': 'handshake: the startup user name',
  'conn.unknown_database': 'handshake: no route for the database',
  'conn.too_many': 'handshake: connection, identity and upstream limits',
  'conn.tls_required': 'handshake: plaintext where TLS is required',
  'conn.shutting_down': 'shutdown ends open sessions',
  'conn.handshake_timeout': 'handshake: the client did not finish in time',
  'upstream.unavailable': 'opening the upstream lease, or it did not take the pinned settings',
  'upstream.auth_failed': 'opening the upstream lease: the held credentials were refused',
  'internal': 'HTTP and MCP: an unexpected failure',
  'policy.in_failed_transaction': 'defined for clients, produced by no code today',
  'pool.wait_timeout': 'opening the upstream lease: no pooled connection became free within max_client_wait',
};

/**
 * Measures the engine's event-loop time per clock bucket, exclusive of nested buckets (the time
 * `decide` spends in `analyse` is counted once, as analyse). Off unless a clock is given to the
 * engine: every measuring site is behind a null check, so an engine without a clock pays one
 * branch. Uses `performance.now()`.
 */
export class StageClock {
  private readonly ms = new Float64Array(CLOCK_BUCKETS.length);
  private readonly stack: number[] = [];
  private last = 0;
  /** Statements decided (each Query and each Execute), the denominator of `perStatement`. */
  statements = 0;
  /** Bucket totals when the last statement was counted (for `observe`). */
  private readonly seen = new Float64Array(CLOCK_BUCKETS.length);

  /**
   * `observe`: told, at each statement counted, the time spent in each bucket since the one
   * before (seconds; buckets with none are left out), e.g. for a histogram per stage.
   */
  constructor(private readonly observe?: (bucket: ClockBucket, seconds: number) => void) {}

  /** Count a decided statement. */
  counted(): void {
    this.statements++;
    const observe = this.observe;
    if (!observe) return;
    for (let i = 0; i < CLOCK_BUCKETS.length; i++) {
      const d = this.ms[i] - this.seen[i];
      if (d > 0) observe(CLOCK_BUCKETS[i], d / 1000);
      this.seen[i] = this.ms[i];
    }
  }

  /**
   * Start a top-level piece of work (a chunk from the client or the server) in `bucket`. `from`
   * says which (this clock sums both alike; a session's trace tells them apart, see
   * statement-stages.ts).
   */
  top(bucket: ClockBucket, _from: ChunkSource = 'client'): void {
    this.stack.length = 0;
    this.stack.push(CLOCK_BUCKETS.indexOf(bucket));
    this.last = performance.now();
  }

  /** End the top-level piece of work. */
  end(): void {
    const now = performance.now();
    const top = this.stack.pop();
    if (top !== undefined) this.ms[top] += now - this.last;
    this.stack.length = 0;
    this.last = now;
  }

  enter(bucket: ClockBucket): void {
    const now = performance.now();
    const top = this.stack[this.stack.length - 1];
    if (top !== undefined) this.ms[top] += now - this.last;
    this.stack.push(CLOCK_BUCKETS.indexOf(bucket));
    this.last = now;
  }

  leave(): void {
    const now = performance.now();
    const top = this.stack.pop();
    if (top !== undefined) this.ms[top] += now - this.last;
    this.last = now;
  }

  /** Microseconds per statement in each bucket since the last reset. */
  perStatement(): { statements: number; us: Record<ClockBucket, number> } {
    const us = {} as Record<ClockBucket, number>;
    CLOCK_BUCKETS.forEach((b, i) => (us[b] = this.statements > 0 ? (this.ms[i] * 1000) / this.statements : 0));
    return { statements: this.statements, us };
  }

  reset(): void {
    this.ms.fill(0);
    this.seen.fill(0);
    this.statements = 0;
  }
}

/**
 * Time the named methods of one object in `bucket`, in place (the object's own methods are
 * replaced by timed calls of the same functions on the same object). For per-session objects
 * only, and only when a clock is on. `count`: methods whose decided calls count as a statement.
 */
export function timeMethods(obj: object, names: readonly string[], bucket: ClockBucket, clock: StageClock, count: readonly string[] = []): void {
  const target = obj as Record<string, unknown>;
  for (const name of names) {
    const f = target[name];
    if (typeof f !== 'function') continue;
    const counts = count.includes(name);
    target[name] = function timed(this: unknown, ...args: unknown[]): unknown {
      clock.enter(bucket);
      try {
        const r = (f as (...a: unknown[]) => unknown).apply(obj, args);
        if (counts && (r as { ok?: unknown } | undefined)?.ok !== 'retry') clock.counted();
        return r;
      } finally {
        clock.leave();
      }
    };
  }
}
