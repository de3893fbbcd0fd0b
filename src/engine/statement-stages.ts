/**
 * One session's statements stage by stage, for its trace: which of the pipeline's stages each
 * statement went through, and when. It is a `StageClock`, so the session and its gate take it in
 * the clock's place and it is told at the very points the clock measures (it passes every measure
 * on to the gateway's clock, when there is one). The composition root makes one per session only
 * when tracing is configured: without tracing there is no such object, and the session pays
 * nothing for it.
 *
 * A statement's stages, as `tracedAudit` (observed.ts) turns them into child spans:
 * - analyse, decide: the gate's work on the statement's messages since the statement before it
 *   was recorded, within one round trip: the Parse and Bind of an extended-protocol statement count
 *   for its Execute. A read from the server starts over, so the Execute of a statement prepared in
 *   an earlier round trip has no analyse (none happens: its analysis is reused). Spread over
 *   several messages, a stage is one span from its first to its last moment, `busyMs` the time
 *   actually spent; decide's time excludes the analysis inside it.
 * - review: from the statement being held for review to its being decided again.
 * - audit, forward, result: see `tracedAudit`. The result's time is the event-loop time of the
 *   server's reads while the statement was the oldest one being answered.
 * Times are `performance.now()` milliseconds.
 */
import { StageClock, type ChunkSource, type ClockBucket } from './pipeline.ts';

export type TracedStage = 'analyse' | 'decide' | 'review' | 'audit' | 'forward' | 'result';

export interface StageTimes {
  stage: TracedStage;
  start: number;
  /** NaN while a review still waits. */
  end: number;
  /** Time actually spent in the stage, where it is spread over more than one piece of work. */
  busyMs?: number;
  /** Of `busyMs`, the time in result tracking and masking (the clock's `mask`). */
  maskMs?: number;
}

/** A statement forwarded upstream and not complete yet. */
export interface InFlight {
  /** When its record was durable: its bytes went upstream then. */
  readonly forwarded: number;
  /** The first read from the server after that (NaN: none yet). */
  firstResponse: number;
  busyMs: number;
  maskMs: number;
}

export class StatementStages extends StageClock {
  /** Stages of the statement being decided, not recorded yet (analyse, decide, review). */
  private marks: StageTimes[] = [];
  /** Forwarded statements not complete yet, oldest first (the server answers in order). */
  private readonly flights: InFlight[] = [];
  /** The buckets open in the current piece of work, innermost last; `since`: when the innermost's current segment began. */
  private readonly open: ClockBucket[] = [];
  private since = 0;
  private inUpstreamRead = false;
  private readStart = 0;
  private readMask = 0;

  constructor(private readonly shared: StageClock | null) {
    super();
  }

  override top(bucket: ClockBucket, from: ChunkSource = 'client'): void {
    this.shared?.top(bucket, from);
    const now = performance.now();
    this.open.length = 0;
    this.open.push(bucket);
    this.since = now;
    this.inUpstreamRead = from === 'upstream';
    if (!this.inUpstreamRead) return;
    this.readStart = now;
    this.readMask = 0;
    // A read from the server ends the round trip: what was decided before it and not recorded
    // (a Parse answered now) belongs to no statement after it; unless a statement is waiting for
    // review: it is still being decided.
    if (this.marks.length > 0 && !this.marks.some((m) => Number.isNaN(m.end))) this.marks = [];
    for (const f of this.flights) if (Number.isNaN(f.firstResponse)) f.firstResponse = now;
  }

  override end(): void {
    this.shared?.end();
    const now = performance.now();
    const b = this.open.pop();
    if (b !== undefined) this.segment(b, this.since, now);
    this.open.length = 0;
    this.since = now;
    if (!this.inUpstreamRead) return;
    this.inUpstreamRead = false;
    for (const f of this.flights) {
      if (Number.isNaN(f.firstResponse)) continue;
      f.busyMs += now - this.readStart;
      f.maskMs += this.readMask;
      return;
    }
  }

  override enter(bucket: ClockBucket): void {
    this.shared?.enter(bucket);
    const now = performance.now();
    const top = this.open.length > 0 ? this.open[this.open.length - 1] : undefined;
    if (top !== undefined) this.segment(top, this.since, now);
    this.open.push(bucket);
    this.since = now;
  }

  override leave(): void {
    this.shared?.leave();
    const now = performance.now();
    const top = this.open.pop();
    if (top !== undefined) this.segment(top, this.since, now);
    this.since = now;
  }

  override counted(): void {
    this.shared?.counted();
  }

  /** The statement being decided is held for review (from `now` until it is decided again). */
  held(now: number): void {
    this.marks.push({ stage: 'review', start: now, end: Number.NaN });
  }

  /**
   * The stages the statement being recorded went through so far, and when it was first taken up
   * (`now` when nothing was measured for it); the next statement starts afresh.
   */
  take(now: number): { start: number; stages: StageTimes[] } {
    const stages = this.marks;
    this.marks = [];
    let start = now;
    for (const m of stages) {
      if (Number.isNaN(m.end)) m.end = now;
      if (m.start < start) start = m.start;
    }
    return { start, stages };
  }

  /** A statement's record is durable at `now` and its bytes go upstream. */
  forwarded(now: number): InFlight {
    const f: InFlight = { forwarded: now, firstResponse: Number.NaN, busyMs: 0, maskMs: 0 };
    this.flights.push(f);
    return f;
  }

  /** A forwarded statement's outcome is known at `now`: its forward and result stages. */
  completed(f: InFlight, now: number, into: StageTimes[]): void {
    const i = this.flights.indexOf(f);
    if (i >= 0) this.flights.splice(i, 1);
    const answered = !Number.isNaN(f.firstResponse);
    into.push({ stage: 'forward', start: f.forwarded, end: answered ? f.firstResponse : now });
    if (answered) into.push({ stage: 'result', start: f.firstResponse, end: now, busyMs: f.busyMs, maskMs: f.maskMs });
  }

  /** Time spent in `bucket` from `a` to `b` (exclusive of nested buckets). */
  private segment(bucket: ClockBucket, a: number, b: number): void {
    if (bucket === 'analyse' || bucket === 'decide') this.mark(bucket, a, b);
    else if (bucket === 'mask' && this.inUpstreamRead) this.readMask += b - a;
  }

  /**
   * Add a segment to the stage's span: the same span as the stage's earlier segments, unless the
   * statement waited for review in between (the stage then has a span before the wait and one
   * after it). The decide that holds a statement goes on past the review's start: that tail is
   * still the earlier span.
   */
  private mark(stage: 'analyse' | 'decide', a: number, b: number): void {
    const marks = this.marks;
    for (let i = marks.length - 1; i >= 0; i--) {
      const m = marks[i];
      if (m.stage === 'review') {
        if (m.start > a) continue;
        if (Number.isNaN(m.end)) m.end = a;
        break;
      }
      if (m.stage === stage) {
        m.end = b;
        m.busyMs = (m.busyMs ?? 0) + (b - a);
        return;
      }
    }
    marks.push({ stage, start: a, end: b, busyMs: b - a });
  }
}
