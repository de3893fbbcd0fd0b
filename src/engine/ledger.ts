/**
 * The one record of a session's prepared statements and portals, as the SERVER has them.
 *
 * PostgreSQL keeps one namespace of prepared statements per session, shared by the protocol
 * (Parse 's1', Close 'S') and SQL (PREPARE s1 AS …, DEALLOCATE s1 / ALL, DISCARD ALL), and one
 * namespace of portals shared by Bind and SQL cursors (DECLARE c, CLOSE c / ALL). Either side can
 * use what the other made: EXECUTE runs a protocol statement, Bind binds a SQL one, Execute runs
 * a cursor. Every decision on a name reads this record, so what the gateway decides on is what
 * the server will run.
 *
 * A change is applied only once the server has done it:
 * - Each allowed message records its changes (`record`) in the batch being built. Later messages
 *   of the SAME batch see them (`lookup`), which is sound: if a change fails, the server skips
 *   everything after it up to Sync (extended protocol) or to the end of the query string.
 * - When the batch goes upstream (`batchEnd`) its changes are in flight. A name touched by a
 *   change in flight is `pending`: its meaning depends on whether that cycle succeeds, so the
 *   caller waits for the cycle (`settled`) and decides again.
 * - When the cycle completes (`cycleDone`) its changes are applied. If the server reported an
 *   error of its own in it, the changes that happened are a prefix of them: a name whose
 *   possible states agree is known; one that holds a statement or nothing is `maybe` (decided on
 *   that statement: if it is gone, the server says so); any other is `uncertain` — refused until
 *   the client closes it (a Close, DEALLOCATE, CLOSE) or a change of it succeeds.
 * - Code the gateway cannot see (a DO block, a procedure) leaves every name made before it
 *   uncertain (`touch_all`).
 *
 * The values a name holds are compared by identity: each change carries its own record.
 *
 * Pure: no I/O. The values are the gate's statement records. They are the only per-name state of
 * a session: each also carries what the wire told of its name (wire-facts.ts: described fields, a
 * Bind's result formats, bytes and parameters), which the result tracker, the audit and review
 * read from the record the gate hands them, never from a map of names kept in step by hand.
 */

export type Namespace = 'S' | 'P';

/**
 * A change of one namespace. `touch_all`: code the gateway cannot see ran (a DO block, a
 * procedure) and may have prepared, deallocated or opened anything, whether or not it failed.
 */
export type LedgerOp<T> =
  | { ns: Namespace; k: 'set'; name: string; value: T }
  | { ns: Namespace; k: 'drop'; name: string }
  | { ns: Namespace; k: 'drop_all' }
  | { ns: Namespace; k: 'touch_all' };

/**
 * `maybe`: the server holds `value` under the name, or nothing (a change that would have made it
 * may have failed). Deciding on `value` is then safe: running a name the server lacks fails
 * there. It is not a name the server is known to have (a Parse of it may succeed).
 */
export type Lookup<T> = { state: 'known'; value: T } | { state: 'maybe'; value: T } | { state: 'absent' } | { state: 'uncertain' } | { state: 'pending' };

type Slot<T> = { state: 'known' | 'maybe'; value: T } | { state: 'uncertain' };

export class Ledger<T> {
  private readonly confirmed: Record<Namespace, Map<string, Slot<T>>> = { S: new Map(), P: new Map() };
  /** Changes of the batch being built, in order. */
  private batch: LedgerOp<T>[] = [];
  /** Changes sent upstream whose cycle has not completed. */
  private readonly inflight = new Set<LedgerOp<T>>();
  private waiters: (() => void)[] = [];

  /** Record a change made by an allowed message of the batch being built; returns it (an effect). */
  record(op: LedgerOp<T>): LedgerOp<T> {
    this.batch.push(op);
    return op;
  }

  /**
   * What `name` means to the server when the next message of the batch runs. `local` are changes
   * of earlier statements of the same message (a query string), not yet recorded.
   */
  lookup(ns: Namespace, name: string, local: readonly LedgerOp<T>[] = []): Lookup<T> {
    // The last change of this name in the batch decides, whatever happened before it.
    for (const list of [local, this.batch]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const op = list[i];
        if (op.ns !== ns) continue;
        if (op.k === 'drop_all') return { state: 'absent' };
        if (op.k === 'touch_all') return { state: 'uncertain' };
        if (op.name === name) return op.k === 'set' ? { state: 'known', value: op.value } : { state: 'absent' };
      }
    }
    for (const op of this.inflight) if (op.ns === ns && (op.k === 'drop_all' || op.k === 'touch_all' || op.name === name)) return { state: 'pending' };
    return this.confirmed[ns].get(name) ?? { state: 'absent' };
  }

  /** True while a change in flight touches this namespace (any name). */
  busy(ns: Namespace): boolean {
    for (const op of this.inflight) if (op.ns === ns) return true;
    return false;
  }

  /** Resolves when the next cycle completes. */
  settled(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * The batch being built ended. `effects` are the effects of the messages that went upstream
   * (`forwarded`), among them this ledger's changes; the rest of the batch never reached it.
   */
  batchEnd(effects: readonly unknown[], forwarded: boolean): void {
    this.batch = [];
    if (!forwarded) return;
    for (const op of opsIn<T>(effects)) this.inflight.add(op);
  }

  /**
   * A cycle completed: apply its changes. When the server reported an error in it, the changes
   * that happened are a prefix of them (the first error stops the rest), so a name ends in the
   * state after one of those prefixes: it is known when all of them agree, `maybe` when they are
   * one statement or nothing, and uncertain otherwise.
   */
  cycleDone(effects: readonly unknown[], failed: boolean): void {
    const ops = opsIn<T>(effects);
    for (const op of ops) this.inflight.delete(op);
    if (!failed) for (const op of ops) this.apply(op);
    else for (const ns of ['S', 'P'] as const) this.settleFailed(ns, ops.filter((op) => op.ns === ns));
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private apply(op: LedgerOp<T>): void {
    const names = this.confirmed[op.ns];
    switch (op.k) {
      case 'set':
        names.set(op.name, { state: 'known', value: op.value });
        return;
      case 'drop':
        names.delete(op.name);
        return;
      case 'drop_all':
        names.clear();
        return;
      case 'touch_all':
        for (const name of names.keys()) names.set(name, { state: 'uncertain' });
        return;
    }
  }

  private settleFailed(ns: Namespace, ops: LedgerOp<T>[]): void {
    if (ops.length === 0) return;
    const names = this.confirmed[ns];
    // Every prefix's state of every name the changes can affect.
    const touched = new Set<string>();
    for (const op of ops) {
      if (op.k === 'set' || op.k === 'drop') touched.add(op.name);
      else for (const name of names.keys()) touched.add(name);
    }
    const outcome = new Map<string, Slot<T> | undefined>();
    for (const name of touched) {
      const states: (Slot<T> | undefined)[] = [names.get(name)];
      let now = names.get(name);
      for (const op of ops) {
        if (op.k === 'touch_all') now = { state: 'uncertain' };
        else if (op.k === 'drop_all') now = undefined;
        else if (op.name !== name) continue;
        else now = op.k === 'set' ? { state: 'known', value: op.value } : undefined;
        states.push(now);
      }
      outcome.set(name, combine(states));
    }
    for (const [name, slot] of outcome) {
      if (slot) names.set(name, slot);
      else names.delete(name);
    }
  }

  /** Every name of a namespace the server may have (known or uncertain). */
  names(ns: Namespace): string[] {
    return [...this.confirmed[ns].keys()];
  }
}

/** One state the possible ones agree on (absent: undefined), or uncertain. */
function combine<T>(states: (Slot<T> | undefined)[]): Slot<T> | undefined {
  let value: { v: T } | null = null;
  let absent = false;
  for (const s of states) {
    if (s === undefined) absent = true;
    else if (s.state === 'uncertain') return { state: 'uncertain' };
    else {
      if (s.state === 'maybe') absent = true;
      if (value && value.v !== s.value) return { state: 'uncertain' };
      value = { v: s.value };
    }
  }
  if (!value) return undefined;
  return { state: absent ? 'maybe' : 'known', value: value.v };
}

/** The ledger changes among a cycle's effects (an effect may be a change, or carry `ops`). */
function opsIn<T>(effects: readonly unknown[]): LedgerOp<T>[] {
  const out: LedgerOp<T>[] = [];
  for (const e of effects) {
    const ops = (e as { ops?: LedgerOp<T>[] } | null)?.ops;
    if (ops) out.push(...ops);
    else if (isOp(e)) out.push(e as LedgerOp<T>);
  }
  return out;
}

function isOp(e: unknown): boolean {
  const o = e as { ns?: unknown; k?: unknown } | null;
  return o !== null && typeof o === 'object' && (o.ns === 'S' || o.ns === 'P') && (o.k === 'set' || o.k === 'drop' || o.k === 'drop_all' || o.k === 'touch_all');
}
