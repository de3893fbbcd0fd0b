/**
 * Transaction pooling on a pool of TWO server connections: a statement a client prepared before
 * its table changed, then used on the connection that never had it (where the gateway prepares
 * it again), behaves as on PostgreSQL. PostgreSQL fixes a prepared statement's result columns:
 * when they would change it fails the Bind (and the Describe) with 0A000 "cached plan must not
 * change result type", keeps the parameter types the statement was first given, and a statement
 * prepared after the change gets the new columns. Each case runs the same steps directly against
 * PostgreSQL and through the gateway and compares what the client saw.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { gatewayClients, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    // The raw protocol client speaks only cleartext and trust: trust for it, straight to PostgreSQL.
    postgres: { hba: ['host app rawdirect 127.0.0.1/32 trust'] },
    config: (raw) => {
      raw.upstreams.app.pool = { mode: 'transaction', size: 2, max_client_wait: '5s' };
    },
  });
  t.pg.psql('create role rawdirect login; grant gw_app to rawdirect', 'app');
});
after(async () => {
  await t?.stop();
});

const clients = gatewayClients(() => t);
after(() => clients.endAll());
const gatewayClient = clients.connect;

async function directClient(): Promise<pg.Client> {
  const c = new pg.Client(t.directUrl('app'));
  c.on('error', () => {});
  await c.connect();
  clients.track(c);
  return c;
}

const pidOf = async (c: pg.Client): Promise<number> => (await c.query('select pg_backend_pid() as p')).rows[0].p as number;

/** Run `q` (a named statement) in a transaction of `c`: the backend it ran on, given back with its plan of `q`. */
async function preparedOn(c: pg.Client, q: pg.QueryConfig): Promise<number> {
  await c.query('begin');
  await c.query(q);
  const backend = await pidOf(c);
  await c.query('commit');
  return backend;
}

/**
 * Both backends are taken by transactions of two other sessions; the one on `backend` stays, the
 * other ends. Until the returned function is called, a session's next transaction runs on the
 * other backend: the one that does not have what was prepared on `backend`. With `onto`, the
 * other one stays busy instead, and the next transaction runs on `backend`.
 */
/**
 * `client` prepares `select * from <table>` (one row, one column) in a transaction, on the
 * backend returned; then a migration run straight on the database (which the pool does not see)
 * adds a column to the table.
 */
async function preparedThenWidened(client: pg.Client, table: string, name: string): Promise<{ q: { name: string; text: string }; backend: number }> {
  await client.query(`create table ${table} (a int)`);
  await client.query(`insert into ${table} values (1)`);
  const q = { name, text: `select * from ${table}` };
  await client.query('begin');
  assert.deepEqual((await client.query(q)).rows, [{ a: 1 }]);
  const backend = await pidOf(client);
  await client.query('commit');
  t.pg.psql(`alter table ${table} add column b int`, 'app');
  return { q, backend };
}

/** `holder`: the identity of the two sessions that hold the backends (another one's resets a backend it is lent). */
async function keepBusy(backend: number, onto = false, holder?: string): Promise<() => Promise<void>> {
  const holders = [await gatewayClient(holder ?? 'holder-1'), await gatewayClient(holder ?? 'holder-2')];
  for (const h of holders) await h.query('begin');
  const pids = await Promise.all(holders.map(pidOf));
  assert.notEqual(pids[0], pids[1], 'the two transactions hold the two backends');
  assert.ok(pids.includes(backend), `backend ${backend} is one of the pool's (${pids.join(', ')})`);
  const at = onto ? 1 - pids.indexOf(backend) : pids.indexOf(backend);
  const keep = holders[at];
  const free = holders[1 - at];
  await free.query('commit');
  return async () => {
    await keep.query('commit');
  };
}

/** An error's fields as a client sees them (what PostgreSQL says, and where it says it comes from). */
function errorOf(e: unknown): Record<string, unknown> {
  const x = e as Record<string, unknown>;
  return { severity: x.severity, code: x.code, message: x.message, file: x.file, line: x.line, routine: x.routine };
}

const errorOrRows = async (p: Promise<pg.QueryResult>): Promise<unknown> =>
  p.then(
    (r) => ({ rows: r.rows, columns: r.fields.map((f) => [f.name, f.dataTypeID]) }),
    (e) => errorOf(e),
  );

describe('a statement prepared before its table changed, used on a backend that never had it', () => {
  it('after ADD COLUMN, its Bind fails with 0A000 as on PostgreSQL (pg); the transaction fails; a fresh prepare gets the new columns', async () => {
    const run = async (side: 'direct' | 'gateway'): Promise<unknown[]> => {
      const open = side === 'direct' ? directClient : () => gatewayClient('alice');
      const a = await open();
      const other = await open();
      const table = `grown_${side}`;
      await other.query(`create table ${table} (a int)`);
      await other.query(`insert into ${table} values (1)`);
      const q = { name: 'everything', text: `select * from ${table}` };
      // Prepared on one backend, in a transaction so that its backend is known.
      await a.query('begin');
      const first = await errorOrRows(a.query(q));
      const backend = await pidOf(a);
      await a.query('commit');
      await other.query(`alter table ${table} add column b text default 'x'`);
      const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
      const seen: unknown[] = [first];
      try {
        await a.query('begin');
        if (side === 'gateway') assert.notEqual(await pidOf(a), backend, 'the statement is used on the other backend');
        seen.push(await errorOrRows(a.query(q)));
        // The failed Bind failed the transaction, as on PostgreSQL.
        seen.push(await errorOrRows(a.query('select 1 as one')).then((r) => (r as { code?: string }).code));
        await a.query('rollback');
        // Every use of the statement fails the same way; one prepared now has the new columns.
        seen.push(await errorOrRows(a.query(q)));
        seen.push(await errorOrRows(a.query({ name: 'everything-now', text: q.text })));
      } finally {
        await release();
      }
      // ... on every backend.
      seen.push(await errorOrRows(a.query({ name: 'everything-now', text: q.text })));
      seen.push(await errorOrRows(a.query({ name: 'everything-now', text: q.text })));
      await other.query(`drop table ${table}`);
      return seen;
    };
    const direct = await run('direct');
    const gateway = await run('gateway');
    assert.deepEqual(direct[1], { severity: 'ERROR', code: '0A000', message: 'cached plan must not change result type', file: 'plancache.c', line: direct[1] && (direct[1] as { line: string }).line, routine: 'RevalidateCachedQuery' });
    assert.equal(direct[2], '25P02');
    assert.deepEqual((direct[4] as { rows: unknown[] }).rows, [{ a: 1, b: 'x' }]);
    assert.deepEqual(gateway, direct);
  });

  it('the table dropped and made again: other columns fail the Bind, the same columns do not (as on PostgreSQL)', async () => {
    const run = async (side: 'direct' | 'gateway'): Promise<unknown[]> => {
      const open = side === 'direct' ? directClient : () => gatewayClient('bob');
      const a = await open();
      const other = await open();
      const table = `remade_${side}`;
      await other.query(`create table ${table} (x int, y varchar(10))`);
      await other.query(`insert into ${table} values (1, 'one')`);
      const seen: unknown[] = [];
      const q = { name: 'xy', text: `select x, y from ${table}` };
      for (const columns of ['x int, y varchar(10)', 'x int, y varchar(20)', 'x int[], y varchar(10)']) {
        await a.query('begin');
        seen.push(await errorOrRows(a.query(q)));
        const backend = await pidOf(a);
        await a.query('commit');
        await other.query(`drop table ${table}`);
        await other.query(`create table ${table} (${columns})`);
        await other.query(`insert into ${table} values (${columns.startsWith('x int[]') ? "'{1}'" : '1'}, 'one')`);
        const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
        try {
          if (side === 'gateway') assert.notEqual(await pidOf(a), backend);
          seen.push(await errorOrRows(a.query(q)));
        } finally {
          await release();
        }
        // The next round starts from a statement prepared now (under a name of its own; SQL
        // DEALLOCATE would pin the session to its backend).
        q.name = `${q.name}'`;
        await other.query(`drop table ${table}`);
        await other.query(`create table ${table} (x int, y varchar(10))`);
        await other.query(`insert into ${table} values (1, 'one')`);
      }
      await other.query(`drop table ${table}`);
      return seen;
    };
    const direct = await run('direct');
    const gateway = await run('gateway');
    // Same columns: rows; another typmod: the error; another type: the error.
    assert.deepEqual((direct[1] as { rows: unknown[] }).rows, [{ x: 1, y: 'one' }]);
    assert.equal((direct[3] as { code: string }).code, '0A000');
    assert.equal((direct[5] as { code: string }).code, '0A000');
    assert.deepEqual(gateway, direct);
  });

  it('its table dropped: the Bind fails with the server\'s 42P01, and the session goes on (as on PostgreSQL)', async () => {
    const run = async (side: 'direct' | 'gateway'): Promise<unknown[]> => {
      const open = side === 'direct' ? directClient : () => gatewayClient('mallory');
      const a = await open();
      const other = await open();
      const table = `dropped_${side}`;
      await other.query(`create table ${table} (a int)`);
      const q = { name: 'gone', text: `select a from ${table}` };
      const backend = await preparedOn(a, q);
      await other.query(`drop table ${table}`);
      const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
      const seen: unknown[] = [];
      try {
        if (side === 'gateway') assert.notEqual(await pidOf(a), backend);
        const e = errorOf(await a.query(q).then(() => null, (x: unknown) => x));
        seen.push([e.code, e.message]);
        seen.push(await errorOrRows(a.query('select 2 as two')));
        await other.query(`create table ${table} (a int)`);
        seen.push(await errorOrRows(a.query(q)));
      } finally {
        await release();
      }
      await other.query(`drop table ${table}`);
      return seen;
    };
    const direct = await run('direct');
    assert.deepEqual(direct[0], ['42P01', 'relation "dropped_direct" does not exist']);
    // The same columns again: the statement works again.
    assert.deepEqual((direct[2] as { rows: unknown[] }).rows, []);
    const gateway = await run('gateway');
    assert.deepEqual(gateway, [['42P01', 'relation "dropped_gateway" does not exist'], ...direct.slice(1)]);
  });

  it('a statement without rows (INSERT) goes on, with the parameter types it was first given (as on PostgreSQL)', async () => {
    const run = async (side: 'direct' | 'gateway'): Promise<unknown[]> => {
      const open = side === 'direct' ? directClient : () => gatewayClient('carol');
      const a = await open();
      const other = await open();
      const table = `retyped_${side}`;
      await other.query(`create table ${table} (v int)`);
      // $1 is an integer when prepared: '007' is the number 7.
      const q = { name: 'put', text: `insert into ${table} (v) values ($1)`, values: ['007'] };
      const backend = await preparedOn(a, q);
      await other.query(`alter table ${table} alter column v type text`);
      const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
      const seen: unknown[] = [];
      try {
        if (side === 'gateway') assert.notEqual(await pidOf(a), backend);
        // Still an integer parameter (PostgreSQL analyses the statement again with its old
        // types), stored into the text column as '7'.
        seen.push(await errorOrRows(a.query(q)));
      } finally {
        await release();
      }
      seen.push((await other.query(`select v from ${table} order by v`)).rows);
      await other.query(`drop table ${table}`);
      return seen;
    };
    const direct = await run('direct');
    const gateway = await run('gateway');
    assert.deepEqual(direct[1], [{ v: '7' }, { v: '7' }]);
    assert.deepEqual(gateway, direct);
  });

  it('postgres.js prepares again on the 0A000 and reads the new column type (its "Insert array with null")', async () => {
    const run = async (side: 'direct' | 'gateway'): Promise<unknown[]> => {
      const sql =
        side === 'direct'
          ? postgres(t.directUrl('app'), { max: 1, onnotice: () => {} })
          : postgres({ host: '127.0.0.1', port: t.port, user: 'agent', pass: await t.issuer.sign({ sub: 'dave' }), database: 'app', max: 1, onnotice: () => {} });
      clients.track(sql);
      const table = sql(`arr_${side}`);
      await sql`create table ${table} (x int)`;
      await sql`insert into ${table} values (5)`;
      const [[first], backend] = await sql.begin(async (tx) => [await tx`select x from ${table}`, (await tx`select pg_backend_pid() as p`)[0].p as number]);
      await sql`drop table ${table}`;
      await sql`create table ${table} (x int[])`;
      await sql`insert into ${table} ${sql({ x: [1, null, 3] })}`;
      const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
      try {
        // Not in a transaction block: there postgres.js cannot prepare again (nor on PostgreSQL).
        // Through the gateway the only free backend is the other one.
        const [again] = await sql`select x from ${table}`;
        if (side === 'gateway') assert.notEqual((await sql`select pg_backend_pid() as p`)[0].p, backend);
        return [first.x, again.x];
      } finally {
        await release();
        await sql`drop table ${table}`;
      }
    };
    const direct = await run('direct');
    assert.equal(direct[0], 5);
    assert.deepEqual(await run('gateway'), direct);
  });

  it('after a change made outside the pool, a statement prepared after it from a backend\'s older plan fails once, then has the new columns', async () => {
    // One identity's sessions: a connection keeps prepared statements only for the identity
    // that used it last (another's are deallocated before it is lent).
    const a = await gatewayClient('frank');
    const b = await gatewayClient('frank');
    const { q, backend } = await preparedThenWidened(a, 'widened', 'w');
    const release = await keepBusy(backend, true, 'frank');
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'frank' }));
    try {
      assert.equal(await pidOf(b), backend);
      // Judy prepares the text now too, on that backend (answered from its plan), and uses it later.
      c.send(Buffer.concat([encodeParse('w', q.text), SYNC]));
      assert.deepEqual((await c.until('Z')).map((m) => m.tag), ['1', 'Z']);
      // Bob's Parse is answered from the backend's plan of the same text, made before the change:
      // the server refuses that plan once (PostgreSQL, whose Bob would have prepared it now,
      // would not: the difference the README lists); then it is prepared again with the new columns.
      await assert.rejects(b.query(q), { code: '0A000' });
      assert.deepEqual((await b.query(q)).rows, [{ a: 1, b: null }]);
      // Judy's, prepared after the change too, has the new columns without an error.
      c.send(Buffer.concat([encodeBind('', 'w', []), encodeDescribe('P', ''), encodeExecute(''), SYNC]));
      assert.deepEqual((await c.until('Z')).map((m) => m.tag), ['2', 'T', 'D', 'C', 'Z']);
      // Alice prepared hers before the change: it fails at every use, as on PostgreSQL.
      await assert.rejects(a.query(q), { code: '0A000' });
      await assert.rejects(a.query(q), { code: '0A000' });
    } finally {
      c.end();
      await release();
      await a.query('drop table widened');
    }
  });

  it('after a change made outside the pool, a backend where another session prepared the statement since still refuses the older one', async () => {
    const a = await gatewayClient('heidi');
    const c = await gatewayClient('ivan');
    const { q, backend } = await preparedThenWidened(a, 'deepened', 'd');
    const release = await keepBusy(backend);
    try {
      // Ivan prepares the text after the change, on the other backend: the new columns.
      assert.notEqual(await pidOf(c), backend);
      assert.deepEqual((await c.query(q)).rows, [{ a: 1, b: null }]);
      // Alice's statement, prepared before, meets Ivan's on that backend: refused, as on PostgreSQL.
      await assert.rejects(a.query(q), { code: '0A000', message: 'cached plan must not change result type' });
      assert.deepEqual((await c.query(q)).rows, [{ a: 1, b: null }]);
      await assert.rejects(a.query(q), { code: '0A000' });
    } finally {
      await release();
      await a.query('drop table deepened');
    }
  });

  it('a statement whose Parse was answered from a plan another session made, before a change through the pool, fails at every use too', async () => {
    const a = await gatewayClient('kim');
    const b = await gatewayClient('leo');
    await a.query('create table shared_plan (a int)');
    const q = { name: 'sp', text: 'select * from shared_plan' };
    const backend = await preparedOn(a, q);
    let release = await keepBusy(backend, true);
    try {
      // Leo's Parse lands on the backend that has Kim's plan of the text: answered from it.
      await b.query('begin');
      assert.equal(await pidOf(b), backend);
      await b.query(q);
      await b.query('commit');
    } finally {
      await release();
    }
    await a.query('alter table shared_plan add column b int');
    for (const onto of [false, true]) {
      release = await keepBusy(backend, onto);
      try {
        for (const c of [a, b, b]) await assert.rejects(c.query(q), { code: '0A000' });
      } finally {
        await release();
      }
    }
    assert.deepEqual((await b.query({ name: 'sp-now', text: q.text })).fields.map((f) => f.name), ['a', 'b']);
    await a.query('drop table shared_plan');
  });

  it('a pipelined batch: what ran before the failed Bind is rolled back, Describe fails after ParameterDescription, the unnamed statement too (raw protocol, as on PostgreSQL)', async () => {
    const P = (name: string, text: string, types: number[] = []) => encodeParse(name, text, types);
    const run = async (side: 'direct' | 'gateway'): Promise<string[][]> => {
      const table = `piped_${side}`;
      const log = `piped_log_${side}`;
      const other = side === 'direct' ? await directClient() : await gatewayClient('erin');
      await other.query(`create table ${table} (a int)`);
      await other.query(`create table ${log} (n int)`);
      const raw = side === 'direct' ? await rawDirect() : await RawClient.connect(t.port, await t.issuer.sign({ sub: 'erin' }));
      const seen: string[][] = [];
      const tags = (ms: { tag: string; fields?: Record<string, string> }[]) => ms.map((m) => (m.tag === 'E' ? `E ${m.fields!.C} ${m.fields!.M}` : m.tag));
      // One cycle: the statements prepared (and the unnamed one described), and the backend's pid.
      raw.send(Buffer.concat([P('s', `select * from ${table}`), P('n', `select a from ${table} where a = $1`), P('', `select * from ${table}`), encodeDescribe('S', ''), P('pid', 'select pg_backend_pid()'), encodeBind('', 'pid', []), encodeExecute(''), SYNC]));
      const first = await raw.until('Z');
      const backend = Number(first.find((m) => m.tag === 'D')!.frame.subarray(11).toString());
      seen.push(tags(first).filter((x) => x !== 'D'));
      await other.query(`alter table ${table} add column b int`);
      const release = side === 'gateway' ? await keepBusy(backend) : async () => {};
      try {
        // An INSERT, then the stale statement: the batch's implicit transaction fails, the INSERT is undone.
        raw.send(Buffer.concat([P('ins', `insert into ${log} values (1)`), encodeBind('', 'ins', []), encodeExecute(''), encodeBind('', 's', []), encodeExecute(''), encodeBind('', 'ins', []), encodeExecute(''), SYNC]));
        seen.push(tags(await raw.until('Z')));
        raw.send(Buffer.concat([encodeDescribe('S', 's'), SYNC]));
        seen.push(tags(await raw.until('Z')));
        // A statement whose result is the same goes on; the unnamed one (prepared before the change) fails.
        raw.send(Buffer.concat([encodeBind('', 'n', ['1']), encodeExecute(''), SYNC]));
        seen.push(tags(await raw.until('Z')));
        raw.send(Buffer.concat([encodeBind('', '', []), encodeExecute(''), SYNC]));
        seen.push(tags(await raw.until('Z')));
        // In a transaction block: the block fails ('E'), as on PostgreSQL.
        raw.send(encodeQuery('begin'));
        seen.push(tags(await raw.until('Z')));
        raw.send(Buffer.concat([encodeBind('', 's', []), encodeExecute(''), SYNC]));
        const inBlock = await raw.until('Z');
        seen.push(tags(inBlock).concat(String.fromCharCode(inBlock[inBlock.length - 1].frame[5])));
        raw.send(encodeQuery('rollback'));
        const rolled = await raw.until('Z');
        seen.push(tags(rolled).concat(String.fromCharCode(rolled[rolled.length - 1].frame[5])));
      } finally {
        await release();
      }
      seen.push([String((await other.query(`select count(*)::int as n from ${log}`)).rows[0].n)]);
      raw.end();
      await other.query(`drop table ${table}; drop table ${log}`);
      return seen;
    };
    const direct = await run('direct');
    const gateway = await run('gateway');
    assert.deepEqual(direct[1], ['1', '2', 'C', 'E 0A000 cached plan must not change result type', 'Z']);
    assert.deepEqual(direct[2], ['t', 'E 0A000 cached plan must not change result type', 'Z']);
    assert.deepEqual(direct[8], ['0']);
    assert.deepEqual(gateway, direct);
  });
});

/** A raw protocol connection straight to PostgreSQL (a role with the upstream role's rights, trusted on loopback). */
async function rawDirect(): Promise<RawClient> {
  const raw = await RawClient.open(t.pg.port, { user: 'rawdirect', database: 'app' });
  await raw.until('Z');
  return raw;
}

describe('a text another session of the identity prepared on the backend, whose tables changed since', () => {
  it('a temporary table made after it: the text means the temporary table, as on a connection of its own (pgx CopyFrom tests)', async () => {
    const a = await gatewayClient('mia');
    const b = await gatewayClient('mia');
    await a.query('create table shadowed (a text)');
    const q = { name: 'sh', text: 'select * from shadowed' };
    const backend = await preparedOn(a, q);
    const release = await keepBusy(backend, true, 'mia');
    try {
      // The temporary table pins b to the backend that has a's plan of the text.
      await b.query('create temporary table shadowed (x int, y int)');
      assert.equal(await pidOf(b), backend);
      await b.query('insert into shadowed values (1, 2)');
      assert.deepEqual(await errorOrRows(b.query(q)), { rows: [{ x: 1, y: 2 }], columns: [['x', 23], ['y', 23]] });
    } finally {
      await release();
      await b.end();
      await a.query('drop table shadowed');
    }
  });

  it('a table made in a transaction that was rolled back, then made again with other columns outside the pool: a fresh prepare gets them', async () => {
    const a = await gatewayClient('mia');
    const b = await gatewayClient('mia');
    const q = { name: 'rb', text: 'select * from rolled_back' };
    await a.query('begin');
    await a.query('create table rolled_back (a text)');
    await a.query(q);
    const backend = await pidOf(a);
    await a.query('rollback');
    t.pg.psql('create table rolled_back (x int); insert into rolled_back values (7); grant all on rolled_back to gw_app', 'app');
    await t.gw.reloadCatalogs();
    const release = await keepBusy(backend, true, 'mia');
    try {
      await b.query('begin');
      assert.equal(await pidOf(b), backend);
      assert.deepEqual(await errorOrRows(b.query(q)), { rows: [{ x: 7 }], columns: [['x', 23]] });
      await b.query('commit');
    } finally {
      await release();
      t.pg.psql('drop table rolled_back', 'app');
    }
  });
});

describe('the unnamed statement across sessions of a transaction pool', () => {
  it("another session's simple Query on the backend between a Parse and its Bind: the Bind runs the statement (pgx without a statement cache)", async () => {
    const raw = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'nia' }));
    const other = await gatewayClient('nia');
    try {
      // One cycle leaves the unnamed statement on a backend, and says which.
      raw.send(Buffer.concat([encodeParse('', 'select 2 as two, pg_backend_pid() as pid', []), encodeBind('', '', []), encodeExecute(''), SYNC]));
      const first = await raw.until('Z');
      const backend = Number(first.find((m) => m.tag === 'D')!.frame.subarray(11 + 4 + 1).toString());
      const release = await keepBusy(backend, true, 'nia');
      try {
        // Another session of the identity runs a simple Query there: the server drops the unnamed statement.
        assert.equal(await pidOf(other), backend);
        raw.send(Buffer.concat([encodeBind('', '', []), encodeExecute(''), SYNC]));
        const got = await raw.until('Z');
        assert.deepEqual(
          got.map((m) => (m.tag === 'E' ? `E ${m.fields!.C} ${m.fields!.M}` : m.tag)),
          ['2', 'D', 'C', 'Z'],
        );
      } finally {
        await release();
      }
    } finally {
      raw.end();
    }
  });
});
