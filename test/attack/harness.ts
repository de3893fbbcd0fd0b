/**
 * One attack case, run against the real world (`world.ts`) and judged by effect:
 *
 * 1. `setup` runs as the superuser, `plant` steps run through the gateway as other identities;
 *    then the checksums are taken (the baseline is the world after the setup).
 * 2. The attacker connects (with `startup` parameters) and runs `steps` on one session.
 * 3. The verdict: data and schema checksums unchanged (unless the case allows a change), none of
 *    the values masked for the attacker (nor `secrets`) in any byte it received, in clear, in hex,
 *    in base64 or reversed; no `serverNever` pattern in the server's statement log; the gateway refused
 *    something (unless `allowed`), with a message matching `refusal`; and a fresh session of
 *    another identity still works.
 * 4. `cleanup` runs as the superuser, whatever happened.
 */
import { AttackClient } from './client.ts';
import type { IdentityName, Sums, World } from './world.ts';

/**
 * A statement, raw bytes, or a function of the attacker's client; the world is passed too, for a
 * change made on the database in the middle of a case (another person's doing, between two steps).
 */
export type Step = string | Buffer | ((c: AttackClient, world: World) => Promise<void>);

export interface Attack {
  /** The verdict the case protects, e.g. "a planted overload of a catalog function is a call to that function". */
  name: string;
  who: IdentityName;
  /** Extra startup parameters of the attacker's connection. */
  startup?: Record<string, string>;
  /** SQL run as the superuser before the baseline (another person's doing, or the data an attack needs). */
  setup?: string;
  /**
   * After `setup`, the gateway reloads its catalog (as its timer would), unless this is false:
   * the case is then about a catalog that has not seen the change yet.
   */
  reloadAfterSetup?: boolean;
  /** Statements run through the gateway by other identities before the baseline; refusals are fine. */
  plant?: { who: IdentityName; sql: string }[];
  steps: Step[];
  /** The attacker reconnects between steps marked by this many leading steps (e.g. after a rename). */
  reconnectAfter?: number;
  /** A legitimate case: nothing may be refused, and at least `rows` DataRows must arrive. */
  allowed?: { rows?: number; changes?: ('data' | 'schema')[] };
  /** Changes a step makes on the world itself (another person's doing mid-case), not the attacker. */
  worldChanges?: ('data' | 'schema')[];
  /** For attacks: the refusal's message must match (default: any `pgwarden:` refusal). */
  refusal?: RegExp;
  /**
   * The gateway refuses with PostgreSQL's own error (e.g. 42601 for several commands in one
   * Parse), so the refusal is any error matching `refusal`; `serverNever` shows it was the gateway.
   */
  refusedAsPostgres?: boolean;
  /**
   * The attack may also be answered without a refusal (e.g. by masking what it reads): only its
   * effects are judged.
   */
  effectOnly?: boolean;
  /** Values besides the masked columns that must never reach the attacker. */
  secrets?: string[];
  /** What the server must never have been asked to run. */
  serverNever?: RegExp[];
  cleanup?: string;
}

export interface Family {
  family: string;
  cases: Attack[];
}

export interface Outcome {
  problems: string[];
  errors: string[];
}

function leakIn(received: Buffer, value: string): string | null {
  if (value.length < 5) return null;
  const forms: [string, Buffer][] = [
    ['in clear', Buffer.from(value)],
    ['hex-encoded', Buffer.from(Buffer.from(value).toString('hex'))],
    ['reversed', Buffer.from([...value].reverse().join(''))],
  ];
  // Base64 at each of the three alignments the value can have in an encoded stream; the last
  // characters depend on what follows the value, so they are left out.
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.from(value).subarray(k).toString('base64').replace(/=+$/, '');
    if (b64.length >= 12) forms.push(['base64-encoded', Buffer.from(b64.slice(0, b64.length - 4))]);
  }
  for (const [how, needle] of forms) if (received.includes(needle)) return how;
  return null;
}

export async function runAttack(world: World, a: Attack): Promise<Outcome> {
  const problems: string[] = [];
  const errors: string[] = [];
  let after: Sums | undefined;
  try {
    if (a.setup) {
      world.direct(a.setup);
      if (a.reloadAfterSetup !== false) await world.gw.gw.reloadCatalogs();
    }
    for (const p of a.plant ?? []) {
      const c = await AttackClient.connect(world.gw.port, await world.token(p.who));
      await c.query(p.sql);
      c.end();
    }
    const before = world.sums();
    world.serverLog();

    const token = await world.token(a.who);
    const clients: AttackClient[] = [];
    let client = await AttackClient.connect(world.gw.port, token, a.startup);
    clients.push(client);
    for (const [i, step] of a.steps.entries()) {
      if (a.reconnectAfter !== undefined && i === a.reconnectAfter) {
        client.end();
        client = await AttackClient.connect(world.gw.port, token, a.startup);
        clients.push(client);
      }
      if (client.closed) break;
      if (typeof step === 'function') await step(client, world);
      else await client.query(step);
    }
    const rows = clients.reduce((n, c) => n + countTag(c.received(), 'D'), 0);
    for (const c of clients) c.end();
    for (const c of clients) for (const e of c.errors) errors.push(`${e.S ?? ''} ${e.C ?? ''} ${e.M ?? ''}`);

    const received = Buffer.concat(clients.map((c) => c.received()));
    for (const v of [...world.clearValues(a.who), ...(a.secrets ?? [])]) {
      const how = leakIn(received, v);
      if (how) {
        problems.push(`the client received the protected value ${JSON.stringify(v)} ${how}`);
        break;
      }
    }
    const changes = [...(a.allowed?.changes ?? []), ...(a.worldChanges ?? [])];
    after = world.sums();
    if (!changes.includes('data') && after.data !== before.data) problems.push('the data changed');
    if (!changes.includes('schema') && after.schema !== before.schema) problems.push('the schema changed');
    const log = world.serverLog();
    for (const re of a.serverNever ?? []) {
      const m = log.match(re);
      if (m) problems.push(`the server was asked to run ${JSON.stringify(m[0])}`);
    }
    const refusals = clients.flatMap((c) => c.errors).filter((e) => (e.M ?? '').startsWith('pgwarden:') || (a.refusedAsPostgres && a.refusal?.test(e.M ?? '')));
    if (a.allowed) {
      if (refusals.length) problems.push(`a legitimate statement was refused: ${refusals[0].M}`);
      if (a.allowed.rows !== undefined && rows < a.allowed.rows) problems.push(`expected at least ${a.allowed.rows} rows, got ${rows}`);
    } else if (!refusals.length && !a.effectOnly) {
      problems.push('the gateway refused nothing');
    } else if (a.refusal && refusals.length && !refusals.some((e) => a.refusal!.test(e.M ?? ''))) {
      problems.push(`no refusal matched ${a.refusal}: ${refusals.map((e) => e.M).join(' | ')}`);
    }

    // Another identity's fresh session still works.
    const other = await AttackClient.connect(world.gw.port, await world.token(a.who === 'support-bot' ? 'analyst' : 'support-bot'));
    if (other.closed) problems.push(`another identity could not connect afterwards: ${other.errors.map((e) => e.M).join(' | ')}`);
    else {
      await other.query('select 1');
      if (other.errors.length) problems.push(`another identity's session failed afterwards: ${other.errors[0].M}`);
      other.end();
    }
  } finally {
    try {
      if (a.cleanup) {
        world.direct(a.cleanup);
        await world.gw.gw.reloadCatalogs();
        after = undefined;
      }
      await world.restore(after);
    } catch (e) {
      problems.push(`cleanup failed: ${(e as Error).message}`);
    }
  }
  return { problems, errors };
}

/** Count the messages with `tag` in a server byte stream (after the handshake's first message). */
function countTag(bytes: Buffer, tag: string): number {
  let n = 0;
  let i = 0;
  const t = tag.charCodeAt(0);
  while (i + 5 <= bytes.length) {
    const len = bytes.readInt32BE(i + 1);
    if (bytes[i] === t) n++;
    i += 1 + len;
  }
  return n;
}
