import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../log.ts';
import { CatalogService } from './service.ts';
import { BUILTIN_FINGERPRINT_SQL, RELATIONS_SQL, type CatalogQueryable } from './load.ts';

/**
 * An upstream holding one table, `public.customers`, whose column 4 the test renames between
 * loads: the three catalog queries answered from that state, as the server would.
 */
function upstream(): { connect: () => Promise<CatalogQueryable & { close(): Promise<void> }>; state: { col: string; loads: number; answered?: () => void } } {
  const state: { col: string; loads: number; answered?: () => void } = { col: 'ssn', loads: 0 };
  // The loader prepares each query once per connection, then executes it by name.
  const prepared = new Map<string, string>();
  const connect = async () => ({
    async query(sent: string): Promise<(string | null)[][]> {
      const prepare = /^prepare (\w+) as ([\s\S]*)$/.exec(sent);
      if (prepare) {
        prepared.set(prepare[1], prepare[2]);
        return [];
      }
      const execute = /^execute (\w+)$/.exec(sent);
      const text = execute ? prepared.get(execute[1])! : sent;
      if (text === BUILTIN_FINGERPRINT_SQL) return [['builtins']];
      if (text.startsWith(RELATIONS_SQL)) {
        state.loads++;
        const answer = [[JSON.stringify([[16400, 'public', 'customers', 'r', false, [['id', 1, 23, 'integer'], ['name', 2, 25, 'text'], ['email', 3, 25, 'text'], [state.col, 4, 25, 'text']], null]])]];
        state.answered?.();
        return answer;
      }
      if (text.includes('pg_proc')) return [['[]']];
      return [['gw', '["public"]', '"$user", public', '["public"]']];
    },
    close: async () => {},
  });
  return { connect, state };
}

describe('CatalogService', () => {
  it('every request for a later load gets one, also when the previous request settled at once', async () => {
    const u = upstream();
    const s = new CatalogService({ name: 'app', logger: silentLogger(), connect: u.connect, refreshIntervalMs: 3_600_000 });
    await s.start();
    s.stop();
    const first = await s.refreshAfterNow(0);
    const second = await s.refreshAfterNow(0);
    assert.ok(first && second && second.version > first.version, `versions ${first?.version} then ${second?.version}`);
    assert.equal(u.state.loads, 3);
  });

  it('a column renamed between loads keeps its former name in the new snapshot', async () => {
    const u = upstream();
    const s = new CatalogService({ name: 'app', logger: silentLogger(), connect: u.connect, refreshIntervalMs: 3_600_000 });
    await s.start();
    s.stop();
    u.state.col = 'tax_id';
    const renamed = await s.reload();
    assert.deepEqual(renamed.formerNames?.get('16400:4'), [['public', 'customers', 'ssn']]);
    u.state.col = 'tin';
    const again = await s.reload();
    assert.deepEqual(again.formerNames?.get('16400:4'), [['public', 'customers', 'ssn'], ['public', 'customers', 'tax_id']]);
  });

  it('a reload asked for while one runs gets a load that read the catalog after the ask', async () => {
    const u = upstream();
    const s = new CatalogService({ name: 'app', logger: silentLogger(), connect: u.connect, refreshIntervalMs: 3_600_000 });
    await s.start();
    s.stop();
    // A load (another session's DDL) reads the relations; then this session's DDL commits (the
    // column is renamed) and it asks for a reload before that load has finished.
    let mine: Promise<unknown> | undefined;
    u.state.answered = () => {
      u.state.answered = undefined;
      u.state.col = 'tax_id';
      mine = s.reload();
    };
    const theirs = await s.reload();
    assert.ok(theirs.relations.get('public.customers')!.columns.some((c) => c.name === 'ssn'), 'the running load read the catalog before the rename');
    const after = (await mine) as Awaited<ReturnType<CatalogService['reload']>>;
    assert.ok(after.version > theirs.version);
    assert.ok(after.relations.get('public.customers')!.columns.some((c) => c.name === 'tax_id'), 'the reload asked for after the rename must see it');
  });
});
