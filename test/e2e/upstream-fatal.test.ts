/**
 * When the database ends a backend (pg_terminate_backend, a shutdown), PostgreSQL sends one
 * FATAL and closes; through the gateway the client gets exactly that and nothing after it — a
 * second FATAL makes client libraries raise an extra, unhandled error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
});
after(async () => {
  await t?.stop();
});

const terminate = () =>
  t.pg.psql("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'gw_app' and application_name <> 'pgwarden-catalog' and backend_type = 'client backend'");

describe('a backend ended by the database', () => {
  it('reaches the client as the one FATAL PostgreSQL sends, then the connection closes', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'terminated' }));
    terminate();
    const rest = await c.closedWith(5000);
    const errors = rest.filter((m) => m.tag === 'E');
    assert.equal(errors.length, 1, `errors: ${errors.map((e) => `${e.fields?.C} ${e.fields?.M}`).join(' | ')}`);
    assert.equal(errors[0].fields?.C, '57P01');
    assert.equal(errors[0].fields?.S, 'FATAL');
  });

  it('pg sees the same errors as with a direct connection', async () => {
    async function scenario(config: pg.ClientConfig, applicationName: string): Promise<string[]> {
      const c = new pg.Client({ ...config, application_name: applicationName });
      const seen: string[] = [];
      c.on('error', (e: any) => seen.push(`error ${e.code ?? e.message}`));
      await c.connect();
      const running = c.query('select pg_sleep(5)').then(() => 'ran', (e: any) => `query ${e.code ?? e.message}`);
      await new Promise((r) => setTimeout(r, 200));
      t.pg.psql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${applicationName}'`);
      seen.push(await running);
      await new Promise((r) => setTimeout(r, 300));
      await c.end().catch(() => {});
      return seen;
    }
    const direct = await scenario({ connectionString: t.directUrl() }, 'direct-victim');
    const gateway = await scenario(t.client(await t.issuer.sign({ sub: 'terminated-pg' })), 'gateway-victim');
    assert.deepEqual(gateway, direct);
  });
});
