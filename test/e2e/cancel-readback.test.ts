/**
 * A cancel that arrives while the gateway reads search_path back from the server (after code it
 * cannot follow, here a tenant switch) is for the client, not for that read-back: cancelling the
 * read-back would fail it and abort the client's transaction block although the client had
 * nothing running. With nothing of the client's on its way the cancel is dropped, as PostgreSQL
 * ignores a cancel that finds its session idle; a statement of the client's held behind the
 * read-back is the one cancelled.
 *
 * The read-back is held on the server deterministically: its first lookup of
 * `current_setting` in a new backend reads pg_proc, which a superuser holds locked meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { sendCancel } from '../helpers/cancel.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestGateway;
const open: pg.Client[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'tenants',
          match: { subjects: ['agent'] },
          allow: [{ tables: ['tenant_a.*', 'tenant_b.*'], operations: ['select'] }, { functions: ['public.set_tenant', 'pg_catalog.pg_sleep'] }],
        },
      ];
    },
  });
  t.pg.psql(
    `create schema tenant_a authorization gw_app; create schema tenant_b authorization gw_app;
     create table tenant_a.orders (id int); create table tenant_b.orders (id int);
     insert into tenant_a.orders values (1); insert into tenant_b.orders values (2);
     alter table tenant_a.orders owner to gw_app; alter table tenant_b.orders owner to gw_app;
     create function public.set_tenant(name text) returns text language plpgsql as $$
       begin perform set_config('search_path', name, false); return name; end $$;
     alter database app set search_path = tenant_a`,
    'app',
  );
  await t.gw.reloadCatalogs();
});
after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await t?.stop();
});

async function client(url: pg.ClientConfig | string): Promise<pg.Client> {
  const c = new pg.Client(url as pg.ClientConfig);
  c.on('error', () => {});
  await c.connect();
  open.push(c);
  return c;
}

/**
 * In a transaction block of a new session, switch the tenant while a superuser holds pg_proc:
 * resolves once the switch's ReadyForQuery reached the client, with the read-back that follows
 * it waiting on the server for the lock. `release` lets it finish.
 */
async function switchWhileReadBackWaits(): Promise<{ c: pg.Client; key: { pid: number; secret: number }; release: () => Promise<void> }> {
  const c = await client(t.client(await t.issuer.sign({ sub: 'agent' })));
  const key = c as unknown as { processID: number; secretKey: number };
  const admin = await client(t.pg.url('app'));
  await c.query('begin');
  // The switch looks its functions up first, then sleeps: the lock is taken meanwhile, so only the
  // read-back after it meets it.
  const switched = c.query("select public.set_tenant('tenant_b'), pg_sleep(0.8)");
  await new Promise((r) => setTimeout(r, 300));
  await admin.query('begin');
  await admin.query('lock table pg_catalog.pg_proc in access exclusive mode');
  await switched;
  await waitFor('the read-back to wait for the lock on pg_proc', async () => {
    const r = await admin.query("select count(*)::int as n from pg_locks where relation = 'pg_catalog.pg_proc'::regclass and not granted");
    return r.rows[0].n > 0 || undefined;
  });
  return { c, key: { pid: key.processID, secret: key.secretKey }, release: () => admin.query('rollback').then(() => undefined) };
}

describe('a cancel during the search_path read-back', () => {
  it('with nothing of the client on its way, is dropped: the transaction block goes on', async () => {
    const { c, key, release } = await switchWhileReadBackWaits();
    await sendCancel(t.port, key.pid, key.secret);
    await new Promise((r) => setTimeout(r, 300));
    await release();
    // The read-back finished: the block is intact and the path is the one the switch set.
    assert.deepEqual((await c.query('select id from orders')).rows, [{ id: 2 }]);
    await c.query('commit');
    assert.ok(!t.logs.some((l) => l.includes('search_path could not be read back')), 'the read-back was cancelled');
  });

  /**
   * Send a statement naming a table (held by the gateway until the read-back tells the path),
   * cancel it while it is held, let the read-back finish: it must be the statement cancelled,
   * answered by the gateway and never sent (a CancelRequest after it could come too early; the
   * server's own error would name its source routine, ProcessInterrupts).
   */
  async function cancelHeld(send: (c: pg.Client) => Promise<unknown>): Promise<pg.Client> {
    const { c, key, release } = await switchWhileReadBackWaits();
    const held = send(c).then(
      () => null,
      (err: Error & { code?: string; routine?: string }) => err,
    );
    await new Promise((r) => setTimeout(r, 200));
    await sendCancel(t.port, key.pid, key.secret);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await release();
    const err = await held;
    assert.equal(err?.code, '57014', `the held statement was not the one cancelled: ${err?.message ?? 'it completed'}`);
    assert.equal(err.routine, undefined, 'the statement reached the server');
    assert.ok(Date.now() - started < 10_000, 'the cancel did not reach the statement');
    return c;
  }

  it('cancels the statement the client sent behind it, once that reaches the server', async () => {
    const c = await cancelHeld((c) => c.query('select pg_sleep(30) from orders'));
    await c.query('rollback');
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  it('cancels the held statement sent with the extended protocol (its Execute is answered)', async () => {
    const c = await cancelHeld((c) => c.query('select pg_sleep($1) from orders', [30]));
    // As a cancel on PostgreSQL does, the error aborted the transaction block.
    await assert.rejects(c.query('select 1'), (e: any) => e.code === '25P02');
    await c.query('rollback');
    assert.deepEqual((await c.query('select $1::int as one', [1])).rows, [{ one: 1 }]);
  });
});
