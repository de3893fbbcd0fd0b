/**
 * The server reads exactly the statements the gateway decided on: client encodings that can hide
 * a quote (SJIS, BIG5, GBK, GB18030, UHC, JOHAB) and standard_conforming_strings=off are refused
 * at startup and mid-session, the upstream session is pinned to UTF8 and standard-conforming
 * strings even when the role or database stores other values, a session whose server leaves the
 * pinned values is ended, and a protocol Parse of several statements is refused as PostgreSQL
 * refuses it.
 *
 * Every attack is judged by its effect: the checksum of the table before and after, a
 * statement-level trigger that records every UPDATE the server runs on the table, and the
 * server's own log (log_statement = all): an attack refused at startup never appears in it, and a
 * refused Parse never reached the server's parser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, allowEverything, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient, message, type RawMessage } from '../helpers/raw-client.ts';

let t: TestGateway;
let support: string;
let admin: string;

const CLIENT_ONLY = ['SJIS', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB'];

before(async () => {
  t = await startTestGateway({
    postgres: { conf: ["log_statement = 'all'", 'logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'"] },
    config: (raw) => {
      const issuers = raw.identity.issuers.map((i: { issuer: string }) => i.issuer);
      raw.policies = [
        {
          name: 'support',
          match: { subjects: ['support-bot'] },
          allow: [
            { tables: ['public.orders'], operations: ['select', 'update'], write_columns: ['status'] },
            { functions: ['public.enc', 'public.scs'] },
          ],
        },
        { ...allowEverything(issuers), match: { subjects: ['admin'] } },
      ];
    },
  });
  t.pg.psql(
    [
      'create table public.orders (id int primary key, total numeric not null, status text not null)',
      "insert into public.orders select g, g * 10, 'new' from generate_series(1, 20) g",
      'alter table public.orders owner to gw_app',
      // Every UPDATE statement the server runs on orders, whatever rows it touches.
      'create table public.update_runs (query text)',
      "create function public.note_update() returns trigger language plpgsql security definer set search_path = pg_catalog as $$ begin insert into public.update_runs values (current_query()); return null; end $$",
      'create trigger note_update after update on public.orders for each statement execute function public.note_update()',
      // Functions that change the lexing settings in a way the gateway cannot see (computed names).
      "create function public.enc(e text) returns text language plpgsql as $$ begin return set_config('client_' || 'encoding', e, false); end $$",
      "create function public.scs(v text) returns text language plpgsql as $$ begin return set_config('standard_conforming_' || 'strings', v, false); end $$",
      'alter function public.enc(text) owner to gw_app',
      'alter function public.scs(text) owner to gw_app',
    ].join('; '),
    'app',
  );
  support = await t.issuer.sign({ sub: 'support-bot' });
  admin = await t.issuer.sign({ sub: 'admin' });
});
after(async () => {
  await t?.stop();
});

/** The table's content, as a checksum read directly from the server. */
function checksum(): string {
  return t.pg.psql("select md5(string_agg(id || ':' || total || ':' || status, ',' order by id)) from public.orders", 'app').trim();
}

let markers = 0;
/** The server's statement log up to now (a marker statement is waited for, so nothing is missed). */
async function statementLog(): Promise<string> {
  const marker = `pgwarden-log-marker-${++markers}`;
  t.pg.psql(`select '${marker}'`, 'app');
  const file = join(t.pg.dataDir, 'log', 'pg.log');
  let text = '';
  await waitFor('the marker in the statement log', async () => {
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    return text.includes(marker);
  });
  return text;
}

/** The hidden statement of every attack below; it writes a column support-bot may not write. */
const HIDDEN = 'UPDATE orders SET total = 0 WHERE id = 15';
function hiddenCount(log: string): number {
  return log.split(HIDDEN).length - 1;
}

/** UPDATE statements the server has run on orders. */
function updatesRun(): number {
  return Number(t.pg.psql('select count(*) from public.update_runs', 'app').trim());
}

/** The effect of an attack: what the table holds and how many UPDATEs the server ran, before and after. */
async function judged(attack: () => Promise<void>): Promise<void> {
  const sum = checksum();
  const runs = updatesRun();
  await attack();
  assert.equal(checksum(), sum, 'the table changed');
  assert.equal(updatesRun(), runs, 'the server ran an UPDATE on orders');
}

/**
 * The SJIS-family attack: 0x95 is a lead byte in these encodings and swallows the backslash, so
 * the server sees the literal end at the second quote and runs the UPDATE. Also with a valid
 * UTF-8 character ending in 0x95 (ŕ, C5 95), which in SJIS is a one-byte character then a lead.
 */
const ENCODING_ATTACKS = [
  Buffer.concat([Buffer.from("SELECT E'"), Buffer.from([0x95]), Buffer.from(`\\' AS a; ${HIDDEN}; --'`)]),
  Buffer.from(`SELECT E'ŕ\\' AS a; ${HIDDEN}; --'`, 'utf8'),
  // One statement (a protocol Parse holds only one): to the gateway a WITH reading one long
  // literal; to a server in SJIS a WITH whose second query is the UPDATE.
  Buffer.from(`WITH x AS (SELECT E'ŕ\\' AS a), u AS (${HIDDEN} RETURNING 1) SELECT 1 --') SELECT * FROM x`, 'utf8'),
];
/** With standard_conforming_strings off, 'a\' AS p, ' is one literal and the UPDATE runs. */
const SCS_ATTACK = Buffer.from(`SELECT 'a\\' AS p, '; ${HIDDEN}; --' AS q`);

function query(bytes: Buffer): Buffer {
  return message('Q', Buffer.concat([bytes, Buffer.from([0])]));
}

/** Run the attacks on a raw session and return every message received (the session may end). */
async function sendAttacks(c: RawClient, attacks: Buffer[]): Promise<string[]> {
  const tags: string[] = [];
  for (const a of attacks) {
    if (c.closed) break;
    c.send(query(a));
    try {
      for (const m of await c.until('Z')) tags.push(m.tag + (m.fields?.C ? `:${m.fields.C}` : ''));
    } catch {
      for (const m of c.messages) tags.push(m.tag + (m.fields?.C ? `:${m.fields.C}` : ''));
      break;
    }
  }
  return tags;
}

/** Startup with these extra parameters: refused with FATAL 0A000 naming the setting, or the attack runs. */
async function startupAttack(params: Record<string, string>, setting: RegExp, attacks: Buffer[]): Promise<void> {
  const sum = checksum();
  const runs = updatesRun();
  const before = hiddenCount(await statementLog());
  const c = await RawClient.open(t.port, { user: 'agent', database: 'app', ...params });
  const first = await c.next('R').catch(() => undefined);
  if (first) {
    // Only a wrong gateway gets here: authenticate and attack, so the test shows the effect.
    c.send(Buffer.concat([message('p', Buffer.from(`${support}\0`))]));
    await c.until('Z').catch(() => {});
    await sendAttacks(c, attacks);
    c.end();
  }
  const got = await c.closedWith();
  const fatal = got.find((m) => m.tag === 'E');
  assert.equal(checksum(), sum, 'the table changed');
  assert.equal(updatesRun(), runs, 'the server ran an UPDATE on orders');
  assert.equal(hiddenCount(await statementLog()), before, 'the attack reached the server');
  assert.ok(!first, 'the startup was accepted');
  assert.equal(fatal?.fields?.S, 'FATAL');
  assert.equal(fatal?.fields?.C, '0A000');
  assert.match(fatal?.fields?.M ?? '', setting);
  assert.ok(fatal?.fields?.H, 'a hint says what to do');
}

describe('client encodings that can hide a quote are refused at startup', () => {
  for (const enc of CLIENT_ONLY) {
    it(`client_encoding=${enc} as a startup parameter`, () => startupAttack({ client_encoding: enc }, /client_encoding/, ENCODING_ATTACKS));
    it(`client_encoding=${enc} in options`, () => startupAttack({ options: `-c client_encoding=${enc}` }, /client_encoding/, ENCODING_ATTACKS));
    it(`client_encoding=${enc} in options as --client-encoding`, () => startupAttack({ options: `--client-encoding=${enc.toLowerCase()}` }, /client_encoding/, ENCODING_ATTACKS));
  }

  it('pg with options -c client_encoding=SJIS gets the refusal', async () => {
    // pg's own client_encoding option is not sent in the startup packet; options is.
    const c = new pg.Client({ ...t.client(support), options: '-c client_encoding=SJIS' });
    await assert.rejects(c.connect(), (e: any) => e.code === '0A000' && /client_encoding "SJIS" is not supported/.test(e.message));
    await c.end().catch(() => {});
  });

  it('postgres.js with client_encoding BIG5 gets the refusal', async () => {
    const sql = postgres({ ...t.client(support), username: 'agent', connection: { client_encoding: 'BIG5' } as any, max: 1, onnotice: () => {} });
    await assert.rejects(sql`select 1`, (e: any) => e.code === '0A000' && /client_encoding/.test(e.message));
    await sql.end();
  });

  it('psql with PGCLIENTENCODING=GBK or PGOPTIONS naming UHC gets the refusal', async () => {
    const r1 = await psql(t.url(support), 'select 1', [], undefined);
    assert.equal(r1.code, 0, r1.stderr);
    const { run } = await import('../helpers/clients.ts');
    const { findPgBin } = await import('../helpers/postgres.ts');
    const bin = join(findPgBin(), 'psql');
    const gbk = await run(bin, ['-X', '-At', '-d', t.url(support), '-c', 'select 1'], { PGCLIENTENCODING: 'GBK' });
    assert.notEqual(gbk.code, 0);
    assert.match(gbk.stderr, /client_encoding "GBK" is not supported/);
    const uhc = await run(bin, ['-X', '-At', '-d', t.url(support), '-c', 'select 1'], { PGOPTIONS: '-c client_encoding=UHC' });
    assert.notEqual(uhc.code, 0);
    assert.match(uhc.stderr, /client_encoding "UHC" is not supported/);
  });

  it('what real clients send by default still connects, and the session runs in UTF8', async () => {
    // psql in a C-locale terminal sends SQL_ASCII (client_encoding=auto); postgres.js sends UTF8;
    // pg sends none.
    const { run } = await import('../helpers/clients.ts');
    const { findPgBin } = await import('../helpers/postgres.ts');
    const ascii = await run(join(findPgBin(), 'psql'), ['-X', '-At', '-d', t.url(support), '-c', 'show client_encoding'], { PGCLIENTENCODING: 'SQL_ASCII' });
    assert.equal(ascii.code, 0, ascii.stderr);
    assert.equal(ascii.stdout.trim(), 'UTF8');
    const sql = postgres({ ...t.client(support), username: 'agent', max: 1 });
    assert.deepEqual((await sql`show client_encoding`).map((r) => r.client_encoding), ['UTF8']);
    await sql.end();
    const c = new pg.Client(t.client(support));
    await c.connect();
    assert.equal((await c.query('show standard_conforming_strings')).rows[0].standard_conforming_strings, 'on');
    await c.end();
    for (const enc of ['UTF8', 'unicode', 'utf-8']) {
      const r = await RawClient.connect(t.port, support, 'app', { client_encoding: enc });
      r.end();
    }
  });
});

describe('standard_conforming_strings=off is refused at startup', () => {
  for (const v of ['off', 'false', '0', 'no']) {
    it(`as a startup parameter (${v})`, () => startupAttack({ standard_conforming_strings: v }, /standard_conforming_strings/, [SCS_ATTACK]));
  }
  it('in options', () => startupAttack({ options: '-c standard_conforming_strings=off' }, /standard_conforming_strings/, [SCS_ATTACK]));
  it('in options among other settings', () => startupAttack({ options: "-c statement_timeout=5s --standard-conforming-strings=off" }, /standard_conforming_strings/, [SCS_ATTACK]));

  it('pg with options -c standard_conforming_strings=off gets the refusal', async () => {
    const c = new pg.Client({ ...t.client(support), options: '-c standard_conforming_strings=off' });
    await assert.rejects(c.connect(), (e: any) => e.code === '0A000' && /standard_conforming_strings/.test(e.message));
    await c.end().catch(() => {});
  });
});

/** Each mid-session way to change the encoding or the string syntax, then the attacks on the same session. */
describe('mid-session changes of the lexing settings are refused and the attack does not run', () => {
  const changes: [string, Buffer[]][] = [
    ...CLIENT_ONLY.flatMap((enc): [string, Buffer[]][] => [
      [`SET client_encoding = '${enc}'`, ENCODING_ATTACKS],
      [`SET NAMES '${enc}'`, ENCODING_ATTACKS],
      [`SELECT set_config('client_encoding', '${enc}', false)`, ENCODING_ATTACKS],
    ]),
    ['BEGIN; SET LOCAL client_encoding = SJIS', ENCODING_ATTACKS],
    ["SELECT set_config('client_' || 'encoding', 'SJIS', false)", ENCODING_ATTACKS],
    ['SET standard_conforming_strings = off', [SCS_ATTACK]],
    ["SELECT set_config('standard_conforming_strings', 'off', false)", [SCS_ATTACK]],
  ];
  for (const [change, attacks] of changes) {
    it(`${change}, then the attack`, async () => {
      let tags: string[] = [];
      await judged(async () => {
        const c = await RawClient.connect(t.port, support);
        tags = await sendAttacks(c, [Buffer.from(change), ...attacks, Buffer.from('SELECT 1')]);
        c.end();
      });
      assert.ok(tags.includes('E:42501'), `the change was refused: ${tags.join(' ')}`);
      // The session stays usable: the last SELECT 1 completed.
      assert.equal(tags.filter((x) => x === 'Z').length, attacks.length + 2, tags.join(' '));
    });
  }

  it('SET client_encoding SQL_ASCII over a UTF8 database is allowed: the server reads the same statements, and the attacks do not run', async () => {
    let tags: string[] = [];
    await judged(async () => {
      const c = await RawClient.connect(t.port, support);
      tags = await sendAttacks(c, [Buffer.from("SET client_encoding = 'SQL_ASCII'"), ...ENCODING_ATTACKS, Buffer.from('SELECT 1')]);
      c.end();
    });
    assert.ok(!tags.includes('E:42501') && tags[0] === 'C', `the SET ran: ${tags.join(' ')}`);
    assert.ok(!tags.some((x) => x.startsWith('E:57P01') || x.startsWith('E:08')), `the session was not ended: ${tags.join(' ')}`);
    assert.equal(tags.filter((x) => x === 'Z').length, ENCODING_ATTACKS.length + 2, tags.join(' '));
    // A client sees what the server reports, and UTF-8 text and masking work as before.
    const c = new pg.Client(t.client(support));
    await c.connect();
    await c.query("set names 'SQL_ASCII'");
    assert.equal((await c.query('show client_encoding')).rows[0].client_encoding, 'SQL_ASCII');
    assert.deepEqual((await c.query("select 'ŕé' as x")).rows, [{ x: 'ŕé' }]);
    await c.query('reset client_encoding');
    assert.equal((await c.query('show client_encoding')).rows[0].client_encoding, 'UTF8');
    await c.end();
  });

  it('RESET and DEFAULT return to the pinned values', async () => {
    const c = new pg.Client(t.client(support));
    await c.connect();
    for (const s of ['reset client_encoding', 'set client_encoding to default', 'set names default', 'reset standard_conforming_strings']) await c.query(s);
    const r = await c.query("select current_setting('client_encoding') e, current_setting('standard_conforming_strings') s");
    assert.deepEqual(r.rows[0], { e: 'UTF8', s: 'on' });
    await c.end();
  });
});

describe('stored settings cannot unpin the session', () => {
  it('ALTER ROLE / ALTER DATABASE / function SET of the lexing settings are refused, even for a scope that may run DCL', async () => {
    const c = new pg.Client(t.client(admin));
    await c.connect();
    for (const s of [
      "alter role gw_app set client_encoding = 'SJIS'",
      'alter role gw_app in database app set standard_conforming_strings = off',
      "alter database app set client_encoding to 'BIG5'",
      'alter database app set standard_conforming_strings = off',
      "create function public.f_enc() returns int language sql set client_encoding = 'GBK' as 'select 1'",
      'alter function public.enc(text) set standard_conforming_strings = off',
    ]) {
      await assert.rejects(c.query(s), (e: any) => e.code === '42501' && /may not set (client_encoding|standard_conforming_strings)/.test(e.message), s);
    }
    await c.end();
    const stored = t.pg.psql("select count(*) from pg_db_role_setting where array_to_string(setconfig, ',') ~ 'client_encoding|standard_conforming'", 'app').trim();
    assert.equal(stored, '0');
  });

  it('values stored by the operator directly are outranked by the pinned startup values', async () => {
    t.pg.psql("alter role gw_app set client_encoding = 'SJIS'; alter database app set standard_conforming_strings = off");
    try {
      await judged(async () => {
        const c = await RawClient.connect(t.port, support);
        await sendAttacks(c, [...ENCODING_ATTACKS, SCS_ATTACK]);
        c.end();
      });
      const s = new pg.Client(t.client(support));
      await s.connect();
      const r = await s.query("select current_setting('client_encoding') e, current_setting('standard_conforming_strings') s");
      assert.deepEqual(r.rows[0], { e: 'UTF8', s: 'on' });
      await s.query('reset client_encoding; reset standard_conforming_strings');
      const again = await s.query("select current_setting('client_encoding') e, current_setting('standard_conforming_strings') s");
      assert.deepEqual(again.rows[0], { e: 'UTF8', s: 'on' });
      await s.end();
    } finally {
      t.pg.psql('alter role gw_app reset client_encoding; alter database app reset standard_conforming_strings');
    }
  });
});

describe('a session whose server leaves a pinned setting is ended', () => {
  const cases: [string, string, string, Buffer[]][] = [
    ...CLIENT_ONLY.map((enc): [string, string, string, Buffer[]] => ['support-bot', `select public.enc('${enc}')`, 'client_encoding', ENCODING_ATTACKS]),
    ['support-bot', "select public.scs('off')", 'standard_conforming_strings', [SCS_ATTACK]],
    ['admin', "do $$ begin perform set_config('client_' || 'encoding', 'SJIS', false); end $$", 'client_encoding', ENCODING_ATTACKS],
    ['admin', "do $$ begin execute 'set standard_conforming_strings = off'; end $$", 'standard_conforming_strings', [SCS_ATTACK]],
    ['admin', "do $$ begin execute format('set %s = %L', 'client_encoding', 'BIG5'); end $$", 'client_encoding', ENCODING_ATTACKS],
  ];
  for (const [who, call, setting, attacks] of cases) {
    it(`${call} ends the session before the next statement`, async () => {
      let fatal: RawMessage | undefined;
      await judged(async () => {
        const c = await RawClient.connect(t.port, who === 'admin' ? admin : support);
        // The attacks follow on the same session once the call has completed, if it is still open.
        await sendAttacks(c, [Buffer.from(call), ...attacks]);
        if (!c.closed) c.end();
        fatal = (await c.closedWith()).find((m) => m.tag === 'E' && m.fields?.S === 'FATAL');
        // A new session is pinned again.
        const d = await RawClient.connect(t.port, support);
        await sendAttacks(d, attacks);
        d.end();
      });
      assert.equal(fatal?.fields?.S, 'FATAL', 'the session was not ended');
      assert.match(fatal?.fields?.M ?? '', new RegExp(`reported ${setting}`));
      await waitFor('the reason in the gateway log', async () => t.logs.some((l) => l.includes('left a pinned lexing setting')));
    });
  }
});

describe('statements pipelined behind a setting change are not read before the change is seen', () => {
  const parse = (name: string, q: Buffer) => message('P', Buffer.concat([Buffer.from(`${name}\0`), q, Buffer.from([0, 0, 0])]));
  const bind = message('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
  const execute = message('E', Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]));
  const sync = message('S', Buffer.alloc(0));
  const batch = (q: Buffer) => Buffer.concat([parse('', q), bind, execute, sync]);

  for (const enc of CLIENT_ONLY) {
    for (const [i, attack] of ENCODING_ATTACKS.entries()) {
      it(`simple Query: enc('${enc}') and attack ${i + 1} in one write`, async () => {
        let got: RawMessage[] = [];
        await judged(async () => {
          const c = await RawClient.connect(t.port, support);
          c.send(Buffer.concat([query(Buffer.from(`select public.enc('${enc}')`)), query(attack), query(Buffer.from('select 1'))]));
          await c.until('Z').catch(() => {});
          await c.until('Z').catch(() => {});
          if (!c.closed) c.end();
          got = await c.closedWith();
        });
        assert.ok(got.some((m) => m.tag === 'E' && m.fields?.S === 'FATAL' && /reported client_encoding/.test(m.fields.M ?? '')), 'the session was ended');
      });
    }
    it(`extended protocol: a batch calling enc('${enc}') and a batch with the attack in one write`, async () => {
      await judged(async () => {
        const c = await RawClient.connect(t.port, support);
        c.send(Buffer.concat([batch(Buffer.from(`select public.enc('${enc}')`)), batch(ENCODING_ATTACKS[2]), batch(ENCODING_ATTACKS[0])]));
        await c.until('Z').catch(() => {});
        if (!c.closed) c.end();
        await c.closedWith();
      });
    });
  }

  it("simple Query: scs('off') and an ASCII attack with a backslash in one write", async () => {
    let got: RawMessage[] = [];
    await judged(async () => {
      const c = await RawClient.connect(t.port, support);
      c.send(Buffer.concat([query(Buffer.from("select public.scs('off')")), query(SCS_ATTACK), query(Buffer.from('select 1'))]));
      await c.until('Z').catch(() => {});
      await c.until('Z').catch(() => {});
      if (!c.closed) c.end();
      got = await c.closedWith();
    });
    assert.ok(got.some((m) => m.tag === 'E' && m.fields?.S === 'FATAL' && /reported standard_conforming_strings/.test(m.fields.M ?? '')), 'the session was ended');
  });

  /**
   * One batch, no Sync between the call and the attack: the server reports the new setting only
   * at the Sync, after it has read the attack. The gateway refuses the attack's Parse (or Query or
   * Bind), nothing after it runs, and the refusal's error rolls the batch's implicit transaction
   * back, the setting with it: the session goes on in UTF8.
   */
  async function refusedInBatch(who: string, bytes: Buffer, cycles = 1): Promise<RawMessage | undefined> {
    const got: RawMessage[] = [];
    let next: RawMessage[] = [];
    // The effect is judged first; what the client saw is checked after.
    await judged(async () => {
      const c = await RawClient.connect(t.port, who === 'admin' ? admin : support);
      c.send(bytes);
      for (let i = 0; i < cycles && !c.closed; i++) got.push(...(await c.until('Z').catch(() => [])));
      if (!c.closed) {
        c.send(query(Buffer.from("select 'é' as e")));
        next = await c.until('Z').catch(() => []);
        c.end();
      }
      got.push(...(await c.closedWith()));
    });
    const refusal = got.find((m) => m.tag === 'E');
    assert.ok(refusal, 'nothing was refused');
    assert.ok(!got.slice(got.indexOf(refusal)).some((m) => m.tag === 'D' || m.tag === 'C'), 'something ran after the refusal');
    const row = next.find((m) => m.tag === 'D');
    assert.ok(row && row.frame.includes(Buffer.from('é')), 'the session goes on in UTF8');
    return refusal;
  }

  const sameBatch: [string, string, Buffer][] = [
    ...CLIENT_ONLY.slice(0, 3).flatMap((enc) => ENCODING_ATTACKS.map((a): [string, string, Buffer] => ['support-bot', `select public.enc('${enc}')`, a])),
    ['support-bot', "select public.scs('off')", SCS_ATTACK],
    // A body that sets it by name, which the policy would refuse as a statement of its own.
    ['admin', "do $$ begin set client_encoding = 'SJIS'; end $$", ENCODING_ATTACKS[2]],
    ['admin', "do $$ begin set names 'BIG5'; end $$", ENCODING_ATTACKS[2]],
    ['admin', 'do $$ begin set standard_conforming_strings = off; end $$', SCS_ATTACK],
  ];
  for (const [i, [who, call, attack]] of sameBatch.entries()) {
    it(`extended protocol, one batch: ${call}, then attack ${i + 1} as Parse`, async () => {
      const refusal = await refusedInBatch(who, Buffer.concat([parse('', Buffer.from(call)), bind, execute, parse('', attack), bind, execute, sync]));
      assert.equal(refusal?.fields?.C, '42501');
      assert.match(refusal?.fields?.M ?? '', /may change client_encoding or standard_conforming_strings/);
      assert.ok(refusal?.fields?.H, 'a hint says what to do');
    });
  }

  it('extended protocol, one batch: the call, then the attack as a simple Query before any Sync', async () => {
    const refusal = await refusedInBatch('support-bot', Buffer.concat([parse('', Buffer.from("select public.enc('SJIS')")), bind, execute, query(ENCODING_ATTACKS[1])]));
    assert.equal(refusal?.fields?.C, '42501');
    assert.match(refusal?.fields?.M ?? '', /may change client_encoding/);
  });

  it('extended protocol, one batch: a prepared statement whose name is not ASCII is not bound after the call', async () => {
    const named = (n: string, q: string) => message('P', Buffer.concat([Buffer.from(`${n}\0${q}\0`, 'utf8'), Buffer.from([0, 0])]));
    const bindTo = (n: string) => message('B', Buffer.concat([Buffer.from(`\0${n}\0`, 'utf8'), Buffer.from([0, 0, 0, 0, 0, 0])]));
    const refusal = await refusedInBatch('support-bot', Buffer.concat([named('ŕ', 'select 1 as one'), sync, parse('', Buffer.from("select public.enc('SJIS')")), bind, execute, bindTo('ŕ'), execute, sync]), 2);
    assert.equal(refusal?.fields?.C, '42501');
    assert.match(refusal?.fields?.M ?? '', /name that is not plain ASCII/);
  });

  it('after the call in one batch, ASCII text without backslashes still runs, and a batch without such a call pipelines non-ASCII text', async () => {
    const c = await RawClient.connect(t.port, support);
    c.send(Buffer.concat([parse('', Buffer.from("select public.enc('UTF8')")), bind, execute, parse('', Buffer.from('select 2 as two')), bind, execute, sync]));
    const first = await c.until('Z');
    assert.equal(first.filter((m) => m.tag === 'C').length, 2);
    assert.ok(!first.some((m) => m.tag === 'E'));
    c.send(Buffer.concat([parse('', Buffer.from('select 1')), bind, execute, parse('', Buffer.from("select 'é\\' as e")), bind, execute, sync]));
    const second = await c.until('Z');
    assert.equal(second.filter((m) => m.tag === 'C').length, 2);
    assert.ok(!second.some((m) => m.tag === 'E'));
    c.end();
  });

  it('ASCII statements still pipeline', async () => {
    const c = await RawClient.connect(t.port, support);
    c.send(Buffer.concat([query(Buffer.from('select pg_sleep(0.2)')), query(Buffer.from("select 'é' as e")), query(Buffer.from('select 1'))]));
    for (let i = 0; i < 3; i++) await c.until('Z');
    c.end();
  });
});

describe('a protocol Parse of several statements is refused as PostgreSQL refuses it', () => {
  const text = `select $1::int as one; ${HIDDEN}`;
  /** The server logs each statement it failed to parse (log_min_error_statement = error). */
  const MULTI = 'cannot insert multiple commands into a prepared statement';
  const parseErrors = async () => (await statementLog()).split(MULTI).length - 1;

  it('pg: 42601 with PostgreSQL\'s message, nothing reaches the server, the session goes on', async () => {
    const direct = new pg.Client(t.directUrl());
    await direct.connect();
    const expected: any = await direct.query(text.replace(HIDDEN, 'select 2'), [1]).catch((e) => e);
    await direct.end();
    const sum = checksum();
    const runs = updatesRun();
    const before = await parseErrors();
    const c = new pg.Client(t.client(admin));
    await c.connect();
    const err: any = await c.query(text, [1]).catch((e) => e);
    assert.equal(err.code, expected.code);
    assert.equal(err.code, '42601');
    assert.equal(err.message, expected.message);
    assert.equal((await c.query('select 1 as x')).rows[0].x, 1);
    await c.end();
    assert.equal(checksum(), sum);
    assert.equal(updatesRun(), runs);
    assert.equal(await parseErrors(), before, 'the Parse reached the server');
  });

  it('postgres.js: the same', async () => {
    const sum = checksum();
    const runs = updatesRun();
    const before = await parseErrors();
    const sql = postgres({ ...t.client(admin), username: 'agent', max: 1 });
    const err: any = await sql.unsafe(text, [1]).catch((e) => e);
    assert.equal(err.code, '42601');
    assert.equal(err.message, 'cannot insert multiple commands into a prepared statement');
    assert.deepEqual([...(await sql`select 1 as x`)], [{ x: 1 }]);
    await sql.end();
    assert.equal(checksum(), sum);
    assert.equal(updatesRun(), runs);
    assert.equal(await parseErrors(), before, 'the Parse reached the server');
  });

  it('raw: a named Parse in a pipelined batch, then a good batch', async () => {
    const sum = checksum();
    const runs = updatesRun();
    const before = await parseErrors();
    const c = await RawClient.connect(t.port, admin);
    const parse = (name: string, q: string) => message('P', Buffer.concat([Buffer.from(`${name}\0${q}\0`), Buffer.from([0, 0])]));
    const bind = (name: string) => message('B', Buffer.concat([Buffer.from(`\0${name}\0`), Buffer.from([0, 0, 0, 0, 0, 0])]));
    const execute = message('E', Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]));
    const sync = message('S', Buffer.alloc(0));
    c.send(Buffer.concat([parse('s1', `select 1; ${HIDDEN}`), bind('s1'), execute, sync, parse('', 'select 2'), bind(''), execute, sync]));
    const first = await c.until('Z');
    const e = first.find((m) => m.tag === 'E');
    assert.equal(e?.fields?.C, '42601');
    assert.equal(e?.fields?.M, 'cannot insert multiple commands into a prepared statement');
    assert.equal(e?.fields?.H, undefined, 'no hint, as PostgreSQL');
    const second = await c.until('Z');
    assert.ok(second.some((m) => m.tag === 'C'), 'the next batch ran');
    c.end();
    assert.equal(checksum(), sum);
    assert.equal(updatesRun(), runs);
    assert.equal(await parseErrors(), before, 'the Parse reached the server');
  });
});
