/**
 * The same client session, byte by byte, directly against PostgreSQL and through the gateway
 * (a policy that grants everything): simple and extended protocol, errors mid-pipeline and
 * mid-transaction, COPY both ways, notices, NOTIFY, cancel, backend termination and malformed
 * input. The two transcripts must be the same message for message, once the differences the
 * README lists ("Differences from PostgreSQL") are normalised:
 *
 * - BackendKeyData: the gateway gives each client its own pid and secret (never the backend's);
 *   NotificationResponse carries the sender's pid, which is the backend's through the gateway.
 * - ParameterStatus at startup: the gateway reports the server's own; GATEWAY_PARAMETERS would
 *   name any the gateway set itself (none today, so every one is compared).
 * - A message of an impossible length after the startup: the gateway says FATAL 08P01 before it
 *   closes, where PostgreSQL only logs and closes (its own test below). A framed message whose
 *   content cannot be read is ERROR 08P01 on both, with words of their own.
 * - RowDescription's table OID: the test table is made anew for each run, so only whether it is
 *   zero is compared.
 * - Source-location fields (F, L, R) of ErrorResponse and NoticeResponse are not compared: they
 *   name the server's C source.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message, type RawMessage } from '../helpers/raw-client.ts';
import {
  SYNC,
  decodeFields,
  decodeRowDescription,
  encodeBind,
  encodeCancelRequest,
  encodeClose,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodeQuery,
} from '../../src/protocol/index.ts';

/** ParameterStatus names whose value comes from the gateway, not from the server's session. */
const GATEWAY_PARAMETERS = new Set<string>([]);

let t: TestGateway;
before(async () => {
  // Password (cleartext) authentication upstream, so the same raw client signs in directly.
  t = await startTestGateway({ postgres: { auth: 'password' } });
});
after(async () => {
  await t?.stop();
});

const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const copyData = (s: string) => message('d', Buffer.from(s));
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);
const copyFail = (why: string) => message('f', cstr(why));

/** One message as a line of the transcript. */
function render(m: RawMessage): string {
  const body = m.frame.subarray(5);
  switch (m.tag) {
    case 'E':
    case 'N': {
      const f = m.fields ?? decodeFields(m.frame);
      const kept = Object.entries(f)
        .filter(([k]) => !['F', 'L', 'R'].includes(k))
        .sort(([a], [b]) => a.localeCompare(b));
      return `${m.tag} ${kept.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'K':
      return 'K <own key>';
    case 'T':
      // The table OID differs between the two runs only because the test table is made anew.
      return `T ${JSON.stringify(decodeRowDescription(m.frame).map((f) => ({ ...f, tableOid: f.tableOid ? '<table>' : 0 })))}`;
    case 'A': {
      // pid, channel, payload
      return `A <pid> ${JSON.stringify(body.subarray(4).toString('utf8'))}`;
    }
    default:
      return `${m.tag} ${JSON.stringify(body.toString('latin1'))}`;
  }
}

interface Step {
  name: string;
  /** Bytes to send (or a function of the session, for the cancel key and termination). */
  send: (s: Session) => Promise<void> | void;
  /** How many ReadyForQuery end the step; 'close' waits for the server to close. */
  until: number | 'close';
}

interface Session {
  client: RawClient;
  port: number;
  key: { pid: number; secret: Buffer };
}

const APP = 'pgwarden-differential';

/** Run the steps on a fresh connection; returns each step's transcript. */
async function record(side: 'direct' | 'gateway', steps: Step[], gateway: TestGateway = t): Promise<string[][]> {
  const port = side === 'direct' ? t.pg.port : gateway.port;
  const params = { database: 'app', application_name: APP, client_encoding: 'UTF8' };
  const client =
    side === 'direct'
      ? await RawClient.open(port, { user: 'gw_app', ...params })
      : await RawClient.open(port, { user: 'agent', ...params });
  const password = side === 'direct' ? t.upstreamPassword : await gateway.issuer.sign({ sub: 'differential' });
  // The startup, as received: authentication request, ok, parameters, key, ready.
  await client.next('R');
  client.send(message('p', cstr(password)));
  const startup = await client.until('Z');
  const k = startup.find((m) => m.tag === 'K')!;
  const key = { pid: k.frame.readInt32BE(5), secret: Buffer.from(k.frame.subarray(9)) };
  const session: Session = { client, port, key };
  const out: string[][] = [
    startup
      .filter((m) => m.tag !== 'S' || !GATEWAY_PARAMETERS.has(m.frame.subarray(5).toString('utf8').split('\0')[0]))
      .map(render),
  ];
  for (const step of steps) {
    await step.send(session);
    const got: RawMessage[] = [];
    if (step.until === 'close') got.push(...(await client.closedWith(5000)));
    else for (let i = 0; i < step.until; i++) got.push(...(await client.until('Z', 10_000)));
    out.push([`# ${step.name}`, ...got.map(render)]);
  }
  if (!client.closed) client.end();
  return out;
}

function cancel(port: number, key: { pid: number; secret: Buffer }): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(encodeCancelRequest(key.pid, key.secret)));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

const sessionSteps: Step[] = [
  { name: 'simple query', send: (s) => s.client.send(encodeQuery("select 1 as a, 'x'::text as b, null::int as c")), until: 1 },
  { name: 'several statements in one query', send: (s) => s.client.send(encodeQuery('select 1; select 2 as two; values (3), (4)')), until: 1 },
  { name: 'an error in the middle of a query string', send: (s) => s.client.send(encodeQuery('select 1; select 1/0; select 3')), until: 1 },
  { name: 'empty query', send: (s) => s.client.send(encodeQuery('')), until: 1 },
  { name: 'syntax error', send: (s) => s.client.send(encodeQuery('selec 1')), until: 1 },
  { name: 'syntax error in a later statement, past multibyte text', send: (s) => s.client.send(encodeQuery("select 'é€'; select 1 frm x")), until: 1 },
  { name: 'notice from a statement', send: (s) => s.client.send(encodeQuery('drop table if exists diff_missing')), until: 1 },
  {
    name: 'notice and warning from a DO block',
    send: (s) => s.client.send(encodeQuery("do $$ begin raise notice 'hello %', 1; raise warning 'careful'; end $$")),
    until: 1,
  },
  { name: 'table for COPY', send: (s) => s.client.send(encodeQuery('drop table if exists diff_t; create table diff_t(a int, b text)')), until: 1 },
  {
    name: 'COPY FROM STDIN',
    send: (s) => s.client.send(Buffer.concat([encodeQuery('copy diff_t from stdin'), copyData('1\tone\n2\ttwo\n'), copyData('3\t\\N\n'), COPY_DONE])),
    until: 1,
  },
  {
    name: 'COPY FROM STDIN with bad data',
    send: (s) => s.client.send(Buffer.concat([encodeQuery('copy diff_t from stdin'), copyData('x\tbad\n'), COPY_DONE])),
    until: 1,
  },
  { name: 'COPY FROM STDIN abandoned by the client', send: (s) => s.client.send(Buffer.concat([encodeQuery('copy diff_t from stdin'), copyData('9\tnine\n'), copyFail('client gave up')])), until: 1 },
  { name: 'COPY TO STDOUT', send: (s) => s.client.send(encodeQuery('copy (select * from diff_t order by a) to stdout')), until: 1 },
  { name: 'COPY TO STDOUT as CSV with header', send: (s) => s.client.send(encodeQuery('copy diff_t to stdout with (format csv, header)')), until: 1 },
  {
    name: 'extended protocol: parse, bind, describe, execute',
    send: (s) =>
      s.client.send(
        Buffer.concat([
          encodeParse('s1', 'select a, b from diff_t where a >= $1 order by a', [23]),
          encodeDescribe('S', 's1'),
          encodeBind('p1', 's1', ['2']),
          encodeDescribe('P', 'p1'),
          encodeExecute('p1', 1),
          encodeExecute('p1', 0),
          SYNC,
        ]),
      ),
    until: 1,
  },
  {
    name: 'extended protocol: an error mid-pipeline skips to Sync',
    send: (s) =>
      s.client.send(
        Buffer.concat([
          encodeParse('', 'select 1'),
          encodeBind('', '', []),
          encodeExecute(''),
          encodeParse('', 'select 1/0'),
          encodeBind('', '', []),
          encodeExecute(''),
          encodeParse('', 'select 3'),
          encodeBind('', '', []),
          encodeExecute(''),
          SYNC,
          encodeParse('', 'select 4'),
          encodeBind('', '', []),
          encodeExecute(''),
          SYNC,
        ]),
      ),
    until: 2,
  },
  {
    name: 'extended protocol: a statement that does not parse, then the prepared one again',
    send: (s) => s.client.send(Buffer.concat([encodeParse('bad', 'selec 1'), SYNC, encodeBind('', 's1', ['3']), encodeExecute(''), SYNC])),
    until: 2,
  },
  {
    name: 'an error inside a transaction, then the aborted state, then rollback',
    send: (s) => s.client.send(encodeQuery('begin; select 1/0')),
    until: 1,
  },
  { name: 'in an aborted transaction', send: (s) => s.client.send(encodeQuery('select 1')), until: 1 },
  { name: 'rollback', send: (s) => s.client.send(encodeQuery('rollback')), until: 1 },
  {
    name: 'LISTEN and NOTIFY',
    send: (s) => s.client.send(encodeQuery("listen diff_chan; notify diff_chan, 'payload'; select pg_notify('diff_chan', 'second')")),
    until: 1,
  },
  {
    name: 'a query cancelled with the session key',
    send: async (s) => {
      s.client.send(encodeQuery('select pg_sleep(5)'));
      // Cancel once the backend runs it (a cancel that arrives earlier is ignored by PostgreSQL).
      const deadline = Date.now() + 5000;
      const running = `select count(*) from pg_stat_activity where application_name = '${APP}' and state = 'active' and query like 'select pg_sleep%'`;
      while (t.pg.psql(running).trim() !== '1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await cancel(s.port, s.key);
    },
    until: 1,
  },
  { name: 'drop the COPY table', send: (s) => s.client.send(encodeQuery('drop table diff_t')), until: 1 },
  {
    name: 'the backend ended by the database',
    send: () => {
      t.pg.psql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${APP}' and backend_type = 'client backend'`);
    },
    until: 'close',
  },
];

const send = (...parts: Buffer[]) => (s: Session) => s.client.send(Buffer.concat(parts));
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);

/** Corners of the protocol clients reach less often, each answered as PostgreSQL answers it. */
const edgeSteps: Step[] = [
  { name: 'table', send: send(encodeQuery("drop table if exists diff_e; create table diff_e(a int, b text); insert into diff_e select g, 'v' || g from generate_series(1, 5) g")), until: 1 },
  { name: 'CopyData, CopyDone and CopyFail outside a COPY are ignored', send: send(copyData('stray'), COPY_DONE, copyFail('stray'), encodeQuery('select 1')), until: 1 },
  {
    name: 'a portal suspended and resumed until it is done',
    send: send(encodeParse('', 'select a from diff_e order by a'), encodeBind('p', '', []), encodeExecute('p', 2), encodeExecute('p', 2), encodeExecute('p', 2), encodeExecute('p', 2), SYNC),
    until: 1,
  },
  { name: 'Close of a statement and a portal that do not exist', send: send(encodeClose('S', 'nope'), encodeClose('P', 'nope'), SYNC), until: 1 },
  { name: 'Describe of a statement that does not exist', send: send(encodeDescribe('S', 'nope'), SYNC), until: 1 },
  { name: 'Describe of a portal that does not exist', send: send(encodeDescribe('P', 'nope'), SYNC), until: 1 },
  { name: 'Bind with too few parameters', send: send(encodeParse('e1', 'select $1::int + 1'), encodeBind('', 'e1', []), encodeExecute(''), SYNC), until: 1 },
  { name: 'Bind with too many parameters', send: send(encodeBind('', 'e1', ['1', '2']), encodeExecute(''), SYNC), until: 1 },
  { name: 'Bind with a parameter the type cannot read', send: send(encodeBind('', 'e1', ['one']), encodeExecute(''), SYNC), until: 1 },
  { name: 'a parameter whose type cannot be found', send: send(encodeParse('e2', 'select $1'), encodeDescribe('S', 'e2'), SYNC), until: 1 },
  { name: 'parameter types from the statement', send: send(encodeParse('e3', 'select $1::int + $2, $2 || $3::text', [0, 23]), encodeDescribe('S', 'e3'), SYNC), until: 1 },
  { name: 'the unnamed portal is gone after Sync outside a transaction', send: send(encodeParse('', 'select 1'), encodeBind('', '', []), SYNC, encodeExecute(''), SYNC), until: 2 },
  { name: 'an empty statement over the extended protocol', send: send(encodeParse('', ''), encodeBind('', '', []), encodeDescribe('P', ''), encodeExecute(''), SYNC), until: 1 },
  { name: 'a statement of only a comment and semicolons', send: send(encodeQuery('-- nothing\n;;')), until: 1 },
  { name: 'two Syncs in a row', send: send(SYNC, SYNC), until: 2 },
  // A simple Query sent before the extended messages' Sync runs in their place when they succeed
  // (and ends their implicit transaction); when one of them fails the server skips it, as it
  // skips everything else up to Sync.
  { name: 'a Query after unsynced extended messages that succeed', send: send(encodeParse('', 'select 1'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 2'), SYNC), until: 2 },
  { name: 'a Query after unsynced extended messages, one of which fails', send: send(encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 2'), SYNC), until: 1 },
  {
    name: 'Queries and extended messages after a failing one, up to Sync',
    send: send(encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 2'), encodeParse('', 'select 3'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 4'), SYNC),
    until: 1,
  },
  {
    name: 'a Query that fails after extended messages that succeed, then more of them',
    send: send(encodeParse('', 'select 1'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 1/0'), encodeParse('', 'select 3'), encodeBind('', '', []), encodeExecute(''), SYNC),
    until: 2,
  },
  {
    name: 'extended messages that fail after a Query that ran, then another Query',
    send: send(encodeParse('', 'select 1'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 2'), encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 4'), SYNC),
    until: 2,
  },
  {
    name: 'a failure flushed before the Query arrives',
    send: async (s) => {
      s.client.send(Buffer.concat([encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), FLUSH]));
      await s.client.until('E', 5000);
      s.client.send(Buffer.concat([encodeQuery('select 2'), encodeBind('', '', []), encodeExecute(''), SYNC]));
    },
    until: 1,
  },
  { name: 'a refused Query after unsynced extended messages that fail', send: send(encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select * from pg_authid'), SYNC), until: 1 },
  { name: 'after all that, the session goes on', send: send(encodeQuery('select 5')), until: 1 },
  {
    name: 'COPY FROM STDIN over the extended protocol',
    send: send(encodeParse('', 'copy diff_e from stdin'), encodeBind('', '', []), encodeExecute(''), copyData('6\tv6\n'), COPY_DONE, SYNC),
    until: 1,
  },
  // While it reads COPY data the server ignores Sync and Flush (libpq sends a Sync right behind
  // an Execute that turns out to be a COPY), and answers nothing for them.
  {
    name: 'COPY FROM STDIN over the extended protocol with a Sync behind its Execute, as libpq sends it',
    send: send(encodeParse('', 'copy diff_e from stdin'), encodeBind('', '', []), encodeExecute(''), SYNC, copyData('7\tv7\n'), COPY_DONE, SYNC, encodeQuery('select count(*) from diff_e')),
    until: 2,
  },
  { name: 'a Sync and a Flush inside a simple COPY FROM STDIN', send: send(encodeQuery('copy diff_e from stdin'), copyData('8\tv8\n'), SYNC, FLUSH, copyData('9\tv9\n'), COPY_DONE, encodeQuery('select count(*) from diff_e')), until: 2 },
  { name: 'two COPY FROM STDIN in one Query, a Sync inside each', send: send(encodeQuery('copy diff_e from stdin; copy diff_e from stdin'), copyData('10\tv10\n'), SYNC, COPY_DONE, copyData('11\tv11\n'), SYNC, COPY_DONE, encodeQuery('select count(*) from diff_e')), until: 2 },
  { name: 'a COPY FROM STDIN abandoned with CopyFail, then a Sync', send: send(encodeParse('', 'copy diff_e from stdin'), encodeBind('', '', []), encodeExecute(''), SYNC, copyData('12\tv12\n'), copyFail('no'), SYNC, encodeQuery('select count(*) from diff_e')), until: 2 },
  {
    name: 'a COPY FROM STDIN that never starts (failed transaction): the Sync behind it counts',
    send: send(encodeQuery('begin'), encodeQuery('select 1/0'), encodeParse('', 'copy diff_e from stdin'), encodeBind('', '', []), encodeExecute(''), SYNC, encodeQuery('rollback'), encodeQuery('select count(*) from diff_e')),
    until: 5,
  },
  { name: 'COPY TO STDOUT over the extended protocol, row limit ignored', send: send(encodeParse('', 'copy (select * from diff_e order by a) to stdout'), encodeBind('', '', []), encodeExecute('', 1), SYNC), until: 1 },
  {
    name: 'a portal kept across Syncs inside a transaction block',
    send: send(encodeQuery('begin'), encodeParse('', 'select b from diff_e order by a'), encodeBind('c', '', []), encodeExecute('c', 2), SYNC, encodeExecute('c', 2), SYNC, encodeClose('P', 'c'), SYNC, encodeQuery('rollback')),
    until: 5,
  },
  { name: 'a named statement prepared twice', send: send(encodeParse('e4', 'select 1'), encodeParse('e4', 'select 2'), SYNC), until: 1 },
  { name: 'DEALLOCATE of a protocol statement, then a Parse of its name', send: send(encodeQuery('deallocate e4'), encodeParse('e4', 'select 3'), encodeBind('', 'e4', []), encodeExecute(''), SYNC), until: 2 },
  { name: 'drop the table', send: send(encodeQuery('drop table diff_e')), until: 1 },
];

describe('one session, direct and through the gateway', () => {
  for (const [name, steps, masking] of [
    ['gets the same messages in the same order', sessionSteps, false],
    ['answers the protocol corners as PostgreSQL does', edgeSteps, false],
    // Masking rules for the identity (of a table the steps do not read) put the result tracker
    // in the session, which follows every message of the protocol.
    // (An input error echoing a parameter is scrubbed for such an identity, by design: left out.)
    ['answers them the same with masking rules loaded', edgeSteps.filter((st) => st.name !== 'Bind with a parameter the type cannot read'), true],
  ] as const) {
    it(name, async () => {
      const masked = masking
        ? await startTestGateway({
            pg: t.pg,
            issuer: t.issuer,
            config: (raw) => {
              raw.masking = { hash_key: 'test-mask-key-0123456789abcdef', rules: [{ column: 'public.diff_secret.v', with: 'redact' }] };
            },
          })
        : t;
      after(() => (masked === t ? undefined : masked.stop()));
      const direct = await record('direct', steps);
      const gateway = await record('gateway', steps, masked);
      const differing = direct.map((d, i) => ({ direct: d, gateway: gateway[i] })).filter((s) => JSON.stringify(s.direct) !== JSON.stringify(s.gateway));
      assert.deepEqual(differing, []);
      assert.equal(gateway.length, direct.length);
    });
  }
});

describe('malformed input, direct and through the gateway', () => {
  async function malformed(side: 'direct' | 'gateway', bytes: Buffer): Promise<string[]> {
    const [transcript] = [await record(side, [{ name: 'malformed', send: (s) => s.client.send(bytes), until: 'close' }])];
    return transcript[transcript.length - 1];
  }

  it('an unknown message type is a FATAL 08P01 on both', async () => {
    const bytes = message('y', Buffer.from('junk'));
    const direct = await malformed('direct', bytes);
    const gateway = await malformed('gateway', bytes);
    assert.deepEqual(strip(gateway), strip(direct));
  });

  it('a Parse while the server reads COPY data: ERROR and then FATAL 08P01 on both, and nothing runs', async () => {
    const steps: Step[] = [
      { name: 'copy', send: (s) => s.client.send(encodeQuery('create temp table diff_copy (a int); copy diff_copy from stdin')), until: 0 },
      {
        name: 'parse',
        send: async (s) => {
          await s.client.until('G', 5000);
          s.client.send(Buffer.concat([copyData('1\n'), encodeParse('', 'select 1'), SYNC]));
        },
        until: 'close',
      },
    ];
    const direct = await record('direct', steps);
    const gateway = await record('gateway', steps);
    // The server's ERROR also names where it was reading (W), and its texts differ from the gateway's.
    const errors = (lines: string[]) => lines.filter((l) => l.startsWith('E ')).map((l) => [/ C=\S+/.exec(l)?.[0], / S=\S+/.exec(l)?.[0]].join(''));
    assert.deepEqual(errors(gateway[2]), errors(direct[2]));
    assert.deepEqual(errors(gateway[2]), [' C=08P01 S=ERROR', ' C=08P01 S=FATAL']);
    assert.match(gateway[2].join('\n'), /unexpected message type 0x50 during COPY from stdin/);
  });

  it('a message length that cannot be: PostgreSQL closes silently, the gateway says FATAL 08P01 first', async () => {
    const bytes = Buffer.from([0x51, 0, 0, 0, 2]);
    const direct = await malformed('direct', bytes);
    const gateway = await malformed('gateway', bytes);
    assert.deepEqual(direct, ['# malformed']);
    assert.equal(gateway.length, 2);
    assert.match(gateway[1], /^E .*C=08P01 .*S=FATAL/);
  });

  // A message whose length frames it but whose content cannot be read: PostgreSQL answers
  // ERROR 08P01 (in the extended protocol, skipping to Sync) and the session goes on; the
  // stream is still framed. The messages differ only in their text.
  const unreadable: [string, Buffer[]][] = [
    ['a Query without its NUL', [message('Q', Buffer.from('select 1'))]],
    ['a Query with bytes after its NUL', [message('Q', Buffer.from('select 1\0select 2\0'))]],
    ['a Parse without its NUL', [message('P', Buffer.from('\0select 1')), SYNC]],
    ['a Bind shorter than its value', [encodeParse('', 'select $1::text'), message('B', Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0x41])), encodeExecute(''), SYNC]],
    ['an Execute without its row limit', [encodeParse('', 'select 1'), encodeBind('', '', []), message('E', Buffer.from([0])), SYNC]],
    ['a Close of neither S nor P, after a result', [encodeParse('', 'select 1'), encodeBind('', '', []), encodeExecute(''), message('C', Buffer.from('X\0')), encodeParse('', 'select 5'), SYNC]],
    ['a Describe of neither S nor P', [encodeParse('', 'select 1'), message('D', Buffer.from('X\0')), SYNC]],
  ];
  for (const [name, bytes] of unreadable) {
    it(`${name}: ERROR 08P01 on both, and the session goes on`, async () => {
      const steps: Step[] = [
        { name: 'begin', send: (s) => s.client.send(encodeQuery('begin')), until: 1 },
        { name, send: (s) => s.client.send(Buffer.concat(bytes)), until: 1 },
        { name: 'rollback', send: (s) => s.client.send(encodeQuery('rollback')), until: 1 },
        { name: 'then', send: (s) => s.client.send(encodeQuery('select 42 as then')), until: 1 },
      ];
      const direct = await record('direct', steps);
      const gateway = await record('gateway', steps);
      // The server's error may also name where it was reading (W, context): the words differ.
      const words = (lines: string[]) => strip(lines).map((l) => l.replace(/ W=.*$/, ''));
      assert.deepEqual(gateway.slice(1).map(words), direct.slice(1).map(words));
      assert.ok(gateway[2].some((l) => /^E .*C=08P01 .*S=ERROR/.test(l)), gateway[2].join('\n'));
      assert.ok(gateway[2][gateway[2].length - 1] === 'Z "E"', 'the transaction is failed, as on PostgreSQL');
    });
  }

  it('an unreadable Query or Parse runs nothing, and what follows it runs', async () => {
    t.pg.psql('create table if not exists diff_unread (v text); alter table diff_unread owner to gw_app', 'app');
    const steps: Step[] = [
      { name: 'an insert with bytes after its NUL', send: (s) => s.client.send(message('Q', Buffer.from("insert into diff_unread values ('q')\0x"))), until: 1 },
      { name: 'an insert without its NUL', send: (s) => s.client.send(Buffer.concat([message('P', Buffer.from("\0insert into diff_unread values ('p')")), encodeBind('', '', []), encodeExecute(''), SYNC])), until: 1 },
      { name: 'an insert in a Bind the server cannot read', send: (s) => s.client.send(Buffer.concat([encodeParse('', 'insert into diff_unread values ($1)'), message('B', Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0x62])), encodeExecute(''), SYNC])), until: 1 },
      { name: 'a readable insert', send: (s) => s.client.send(encodeQuery("insert into diff_unread values ('ok')")), until: 1 },
    ];
    await record('gateway', steps);
    assert.equal(t.pg.psql('select string_agg(v, \',\' order by v) from diff_unread', 'app').trim(), 'ok');
    t.pg.psql('drop table diff_unread', 'app');
  });

  it('garbage before the startup packet: both close without a reply', async () => {
    for (const port of [t.pg.port, t.port]) {
      const s = net.connect(port, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      await new Promise((r) => s.once('connect', r));
      s.write(Buffer.from([0x58, 0, 0, 0, 4]));
      await new Promise((r) => s.once('close', r));
      assert.equal(Buffer.concat(got).length, 0, `port ${port} replied`);
    }
  });
});

/** Error messages of malformed-input FATALs are the server's and the gateway's own words; keep the code. */
function strip(lines: string[]): string[] {
  return lines.map((l) => l.replace(/ M=[^=]*?(?= [A-Z]=|$)/, ' M=…'));
}
