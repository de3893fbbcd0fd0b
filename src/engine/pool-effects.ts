/**
 * What a statement leaves on its server connection beyond its transaction, as a transaction
 * pool needs to know it (see src/upstream/transaction-lease.ts). Pure: analyses in, data out.
 *
 * - A session setting changed by a lone SET / RESET / RESET ALL / SET SESSION CHARACTERISTICS
 *   is replayed on each server connection the session is lent afterwards: it is `settings`, with
 *   the statement's own text to replay.
 * - State that cannot move between server connections pins the session to its connection for
 *   the rest of its life: `pin` says why. That is a temporary table, LISTEN, a session advisory
 *   lock, a WITH HOLD cursor, a SQL-level PREPARE, SET ROLE / SESSION AUTHORIZATION, a SET FROM
 *   CURRENT, set_config() that is not transaction-local, LOAD, and a setting changed by a
 *   statement that is not alone in its Query.
 * - DISCARD ALL / DEALLOCATE drop the server's prepared statements: `dropsPrepared`.
 * - DDL, DO and CALL may change what other statements return: `schema`.
 */
import type { FunctionCall, StatementAnalysis } from '../sql/index.ts';
import type { LeaseEffect } from '../upstream/lease.ts';


const ADVISORY_LOCKS = new Set(['pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared']);
const TEMP_TYPES = new Set(['table', 'view', 'sequence']);

/** The effect of one Query's or Parse's statements; undefined when they leave nothing behind. */
export function poolEffectOf(analyses: readonly StatementAnalysis[]): LeaseEffect | undefined {
  let effect: LeaseEffect | undefined;
  const alone = analyses.length === 1;
  for (const a of analyses) {
    // SQL-level prepared statements share their names with the protocol's: the session keeps
    // its connection, and its statements go by their own names there.
    const sqlNames = a.specials.includes('prepare') || a.specials.includes('execute') || a.specials.includes('deallocate');
    const pin = pinReason(a) ?? (sqlNames ? `SQL-level ${a.command.toUpperCase()}` : undefined);
    // A temporary table shadows names on its connection: plans other sessions left there no
    // longer fit what their text means to this one, so a pin by DDL changes the schema too.
    const schema = a.ddl.length > 0 || a.command === 'do' || a.command === 'call';
    if (pin) {
      return {
        pin,
        ...(schema || effect?.schema ? { schema: true as const } : {}),
        ...(sqlNames ? { sqlNames: true as const, ...(a.command === 'deallocate' ? { dropsPrepared: true as const } : {}) } : {}),
      };
    }
    if (a.command === 'discard all' || a.command === 'deallocate') (effect ??= {}).dropsPrepared = true;
    if (schema) (effect ??= {}).schema = true;
    for (const s of a.settings) {
      if (s.action === 'set_local' || s.action === 'set_stored') continue;
      if (s.action === 'set_transaction') {
        // SET SESSION CHARACTERISTICS sets default_transaction_*; SET TRANSACTION and BEGIN's
        // options end with their transaction.
        if (!s.name?.startsWith('default_')) continue;
      }
      if (!alone) return { pin: `${a.command.toUpperCase()} sent in one Query with other statements` };
      const action = s.action === 'reset_all' ? 'reset_all' : s.action === 'reset' ? 'reset' : 'set';
      ((effect ??= {}).settings ??= []).push({ name: s.name, action, text: a.text });
    }
  }
  return effect;
}

function pinReason(a: StatementAnalysis): string | undefined {
  if (a.specials.includes('listen')) return 'LISTEN';
  if (a.specials.includes('prepare')) return 'a SQL-level PREPARE';
  if (a.holdCursor) return 'a WITH HOLD cursor';
  if (a.specials.includes('load')) return 'LOAD';
  for (const s of a.settings) {
    if (s.action === 'set_role') return 'SET ROLE';
    if (s.action === 'set_session_authorization') return 'SET SESSION AUTHORIZATION';
    if (s.fromCurrent && s.action === 'set') return 'SET … FROM CURRENT';
  }
  for (const d of a.ddl) {
    if (d.action === 'create' && d.schema === 'pg_temp' && TEMP_TYPES.has(d.objectType)) return `a temporary ${d.objectType}`;
  }
  for (const f of a.functions) {
    const why = functionPin(f);
    if (why) return why;
  }
  return a.inner ? pinReason(a.inner) : undefined;
}

function functionPin(f: FunctionCall): string | undefined {
  if (f.schema !== 'pg_catalog' && f.schema !== '') return undefined;
  if (ADVISORY_LOCKS.has(f.name)) return `a session advisory lock (${f.name})`;
  if (f.name === 'set_config') {
    // set_config(name, value, is_local): only a constant true keeps it to the transaction.
    const local = f.constArgs?.[2];
    if (local === undefined || local === null || !/^(t|true|on|1|yes)$/i.test(local)) return 'set_config() of a session setting';
  }
  return undefined;
}
