/**
 * The session's search_path as the SERVER has it, followed through transactions.
 *
 * PostgreSQL 15 does not report search_path in ParameterStatus, so the gateway follows every
 * change itself, with PostgreSQL's rules for a setting (guc.c, xact.c):
 * - SET changes the value now and, once the transaction commits, for the session; SET LOCAL
 *   only until the transaction ends. Outside a transaction block every statement (a simple
 *   Query's whole string, an extended-protocol pipeline up to Sync) is its own transaction.
 * - A transaction that aborts (ROLLBACK, an error) returns the value to what it was when the
 *   transaction began; ROLLBACK TO SAVEPOINT to what it was when the savepoint was made; RELEASE
 *   keeps the changes. An error inside a transaction block reverts at once (the block then
 *   refuses everything but ROLLBACK / ROLLBACK TO / COMMIT).
 * - RESET, SET … TO DEFAULT, RESET ALL and DISCARD ALL return it to the session default (the
 *   value the session started with).
 *
 * The gateway does not know which statement of a failed cycle failed, only that one did and the
 * transaction status the server reported at ReadyForQuery. So the state is a set of candidates:
 * every state that some failure point leads to and that agrees with the reported status. Code
 * the gateway cannot see (a DO block, a procedure) may set anything: the value becomes
 * `unknown` until the gateway reads it from the server (`observe`). The gate decides each
 * statement against every candidate value (fail closed).
 *
 * Pure: no I/O.
 */

/** A search_path value: the schemas as the server reads them, the session default, or unknown. */
export type PathValue = readonly string[] | 'default' | 'unknown';

/** One change a statement makes, in order. */
export type PathOp =
  | { k: 'set'; value: PathValue; local: boolean }
  /** SET search_path FROM CURRENT: the session value becomes the current one. */
  | { k: 'current'; local: boolean }
  /** set_config() inside a statement that may call it once, many times or never. */
  | { k: 'maybe'; value: PathValue; local: boolean }
  | { k: 'begin' }
  | { k: 'commit'; chain: boolean }
  | { k: 'rollback'; chain: boolean }
  | { k: 'savepoint'; name: string }
  | { k: 'release'; name: string }
  | { k: 'rollback_to'; name: string }
  /** DISCARD ALL: refused by the server inside a transaction block. */
  | { k: 'discard_all' }
  /** Code the gateway cannot see ran: it may have set anything, or ended the transaction. */
  | { k: 'unknown' }
  /**
   * The gateway read the value from the server (`current_setting('search_path')`, run alone in
   * its own cycle while the session was idle or in a transaction block): `value` once the answer
   * came, undefined while it has not (or it failed), which changes nothing.
   */
  | { k: 'observe'; value?: PathValue };

interface Level {
  name?: string;
  cur: PathValue;
  sess: PathValue;
}

/**
 * One possible state of the server. `cur` is in effect now; `sess` is what a commit keeps (the
 * last SET, not SET LOCAL). `levels[0]` saves the values the transaction began with, the rest
 * the values at each savepoint.
 */
export interface PathState {
  cur: PathValue;
  sess: PathValue;
  top: 'none' | 'implicit' | 'explicit';
  levels: Level[];
  aborted: boolean;
}

export type TxStatus = 'I' | 'T' | 'E';

/** How a cycle ended: whether an error stopped it (`marker`: only the gateway's refusal marker, after everything else ran). */
export interface CycleOutcome {
  error: 'none' | 'marker' | 'upstream';
  status: TxStatus;
}

/** Beyond this many candidates the value is unknown (fail closed, and bounded work). */
const MAX_CANDIDATES = 16;

export function initialState(): PathState {
  return { cur: 'default', sess: 'default', top: 'none', levels: [], aborted: false };
}

export function valueKey(v: PathValue): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function stateKey(s: PathState): string {
  return JSON.stringify(s);
}

function open(s: PathState): PathState {
  if (s.top !== 'none') return s;
  return { ...s, top: 'implicit', levels: [{ cur: s.cur, sess: s.sess }] };
}

const ERROR = 'error' as const;

/** The state after one change succeeds, or `error` when the server certainly refuses it. */
export function step(s: PathState, op: PathOp): PathState | typeof ERROR | PathState[] {
  if (s.aborted && op.k !== 'rollback' && op.k !== 'rollback_to' && op.k !== 'commit') return ERROR;
  switch (op.k) {
    case 'set': {
      const o = open(s);
      return { ...o, cur: op.value, sess: op.local ? o.sess : op.value };
    }
    case 'current': {
      const o = open(s);
      return op.local ? o : { ...o, sess: o.cur };
    }
    case 'maybe': {
      const applied = step(s, { k: 'set', value: op.value, local: op.local }) as PathState;
      return [open(s), applied];
    }
    case 'begin':
      if (s.top === 'explicit') return s; // WARNING: already in a transaction
      return { ...open(s), top: 'explicit' };
    case 'commit':
    case 'rollback': {
      if (s.top === 'none') return op.chain ? ERROR : s; // WARNING: no transaction in progress
      if (op.chain && s.top !== 'explicit') return ERROR;
      // COMMIT of an aborted transaction rolls it back.
      const keep = op.k === 'commit' && !s.aborted;
      const v = keep ? s.sess : s.levels[0].sess;
      const ended: PathState = { cur: v, sess: v, top: 'none', levels: [], aborted: false };
      return op.chain ? { ...ended, top: 'explicit', levels: [{ cur: v, sess: v }] } : ended;
    }
    case 'savepoint':
      if (s.top !== 'explicit') return ERROR;
      return { ...s, levels: [...s.levels, { name: op.name, cur: s.cur, sess: s.sess }] };
    case 'release':
    case 'rollback_to': {
      if (s.top !== 'explicit') return ERROR;
      let i = s.levels.length - 1;
      while (i >= 1 && s.levels[i].name !== op.name) i--;
      if (i < 1) return ERROR;
      if (op.k === 'release') return s.aborted ? ERROR : { ...s, levels: s.levels.slice(0, i) };
      const at = s.levels[i];
      return { ...s, cur: at.cur, sess: at.sess, levels: s.levels.slice(0, i + 1), aborted: false };
    }
    case 'discard_all': {
      if (s.top === 'explicit') return ERROR;
      const o = open(s);
      return { ...o, cur: 'default', sess: 'default' };
    }
    case 'unknown': {
      // A procedure may even COMMIT: nothing saved can be relied on either.
      const o = open(s);
      return { ...o, cur: 'unknown', sess: 'unknown', levels: o.levels.map((l) => ({ ...l, cur: 'unknown', sess: 'unknown' })) };
    }
    case 'observe': {
      if (op.value === undefined) return s;
      // Outside a transaction block the value is the session's. Inside one, whether code set it
      // for the session or the transaction (SET LOCAL) cannot be read: what a COMMIT keeps stays
      // as it was (unknown after such code), and is read again after it.
      return s.top === 'none' ? { ...s, cur: op.value, sess: op.value } : { ...s, cur: op.value };
    }
  }
}

/** An error stopped the cycle here: the innermost (sub)transaction aborts. */
function fail(s: PathState): PathState {
  if (s.top === 'none') return s;
  const at = s.levels[s.levels.length - 1];
  return { ...s, cur: at.cur, sess: at.sess, aborted: true };
}

/** The cycle ended (end of the query string, or Sync): an implicit transaction ends. */
function endCycle(s: PathState): PathState {
  if (s.top !== 'implicit') return s;
  const v = s.aborted ? s.levels[0].sess : s.sess;
  return { cur: v, sess: v, top: 'none', levels: [], aborted: false };
}

export function statusOf(s: PathState): TxStatus {
  return s.top === 'none' ? 'I' : s.aborted ? 'E' : 'T';
}

/** Every state running `ops` from `s` may lead to, each change succeeding (certain errors dropped). */
function runAll(s: PathState, ops: readonly PathOp[]): PathState[] {
  let states = [s];
  for (const op of ops) {
    const next: PathState[] = [];
    for (const st of states) {
      const r = step(st, op);
      if (r === ERROR) continue;
      if (Array.isArray(r)) next.push(...r);
      else next.push(r);
    }
    states = next;
  }
  return states;
}

/**
 * The candidates after a cycle that ran `ops` completed with `outcome`. An empty result (the
 * server did something the model cannot explain) is the unknown value, never a guess.
 */
export function afterCycle(candidates: readonly PathState[], ops: readonly PathOp[], outcome: CycleOutcome): PathState[] {
  const out = new Map<string, PathState>();
  const add = (s: PathState): void => {
    const e = endCycle(s);
    if (statusOf(e) === outcome.status) out.set(stateKey(e), e);
  };
  for (const c of candidates) {
    if (outcome.error === 'none') {
      for (const s of runAll(c, ops)) add(s);
      continue;
    }
    // The error stopped the cycle after the first k changes (k = all of them for the marker,
    // which stands after everything that was forwarded).
    const first = outcome.error === 'marker' ? ops.length : 0;
    for (let k = first; k <= ops.length; k++) for (const s of runAll(c, ops.slice(0, k))) add(fail(s));
  }
  const list = [...out.values()];
  if (list.length === 0 || list.length > MAX_CANDIDATES) return [unknownState(outcome.status)];
  return list;
}

function unknownState(status: TxStatus): PathState {
  const top = status === 'I' ? 'none' : 'explicit';
  return { cur: 'unknown', sess: 'unknown', top, levels: top === 'none' ? [] : [{ cur: 'unknown', sess: 'unknown' }], aborted: status === 'E' };
}

/**
 * The values in effect for the next statement, if the changes in `ops` (of the batch being
 * built, before it) succeed: later statements of a batch run only if earlier ones did.
 */
export function currentValues(candidates: readonly PathState[], ops: readonly PathOp[]): PathValue[] {
  const out = new Map<string, PathValue>();
  for (const s of currentStates(candidates, ops)) out.set(valueKey(s.cur), s.cur);
  return [...out.values()];
}

/**
 * The states the next statement of a batch may run in, if the changes in `ops` before it
 * succeed. A change the server certainly refuses stops the batch there: what follows never
 * runs, so the state it leaves does not matter (it is kept as it was).
 */
export function currentStates(candidates: readonly PathState[], ops: readonly PathOp[]): PathState[] {
  let states = [...candidates];
  for (const op of ops) {
    const next = new Map<string, PathState>();
    for (const st of states) {
      const r = step(st, op);
      for (const n of r === ERROR ? [st] : Array.isArray(r) ? r : [r]) next.set(stateKey(n), n);
    }
    states = [...next.values()];
  }
  return states.length > MAX_CANDIDATES ? [unknownState(statusOf(states[0]))] : states;
}

/** Whether a change in flight may leave the value other than it is in every candidate now. */
export function mayChange(candidates: readonly PathState[], ops: readonly PathOp[]): boolean {
  for (const op of ops) {
    if (op.k === 'set' || op.k === 'current' || op.k === 'maybe' || op.k === 'discard_all' || op.k === 'unknown' || op.k === 'observe') return true;
  }
  if (ops.length === 0) return false;
  // Transaction control changes the value only when something saved differs from it.
  const keys = new Set(candidates.map((c) => valueKey(c.cur)));
  if (keys.size > 1) return true;
  return candidates.some((c) => valueKey(c.sess) !== valueKey(c.cur) || c.levels.some((l) => valueKey(l.cur) !== valueKey(c.cur) || valueKey(l.sess) !== valueKey(c.cur)));
}
