/**
 * A statement is decided once: a prepared statement at Parse (Bind and Execute of it are lookups),
 * a simple Query once per statement shape. Every reason to decide again still does: a policy
 * reload, a search_path change since Parse, a statement that names other prepared statements, a
 * review rule (which reads the statement's own text). Run on the session's real gate with the
 * fixture catalog and the scope corpus' policies; the decisions are counted by the masking check,
 * which the gate calls once for every decision it makes.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PolicyGate, type GateVerdict, type PolicyState, type ReviewPort } from '../../src/engine/index.ts';
import type { ReviewQuery } from '../../src/engine/gate.ts';
import { GatewayError } from '../../src/errors.ts';
import { compilePolicies, policySchema, type PolicyInput } from '../../src/policy/index.ts';
import { AnalysisCache, loadParser, type StatementAnalysis } from '../../src/sql/index.ts';
import { fixedCatalog } from './harness.ts';
import { compiledPolicies, DATABASE, IDENTITIES, POLICIES, type Who } from './policies.ts';

before(() => loadParser());

interface Rig {
  gate: PolicyGate;
  /** How many decisions the gate made (masking's check runs once per decision). */
  decisions: () => number;
  /** Replace the policies (a config reload: the version changes). */
  reload: (policies: PolicyInput[]) => void;
  reviewed: ReviewQuery[];
}

function rig(who: Who, opts: { cache?: AnalysisCache; reviewRule?: (a: StatementAnalysis[]) => boolean } = {}): Rig {
  let state: PolicyState = { version: 1, compiled: compiledPolicies() };
  let count = 0;
  const reviewed: ReviewQuery[] = [];
  const reviews: ReviewPort | undefined = opts.reviewRule && {
    ruleFor: (analyses) => (opts.reviewRule?.(analyses) ? { name: 'held', mode: 'wait' } : null),
    settle: (q) => {
      reviewed.push(q);
      return Promise.resolve({ approved: true, reviewId: `r-${reviewed.length}` });
    },
  };
  const gate = new PolicyGate({
    identity: IDENTITIES[who],
    database: DATABASE,
    policies: () => state,
    catalog: fixedCatalog(),
    cache: opts.cache ?? new AnalysisCache(64),
    startupSearchPath: 'public',
    maskingRefusal: () => {
      count++;
      return null;
    },
    ...(reviews && { reviews }),
  });
  return {
    gate,
    decisions: () => count,
    reload: (p) => {
      state = { version: state.version + 1, compiled: compilePolicies(p.map((x) => policySchema.parse(x)) as never) };
    },
    reviewed,
  };
}

/** One message decided, its retries awaited, and its cycle completed without a server error. */
async function step(gate: PolicyGate, ask: () => GateVerdict | void, status: 'I' | 'T' | 'E' = 'I'): Promise<GateVerdict> {
  for (let i = 0; i < 5; i++) {
    const v = ask() ?? { ok: true as const };
    if (v.ok === 'retry') {
      await v.retry;
      continue;
    }
    const effects = v.ok === true && v.effect !== undefined ? [v.effect] : [];
    gate.batchEnd(effects, true);
    gate.cycleDone(effects, false, { error: 'none', status });
    return v;
  }
  throw new Error('the gate kept asking to retry');
}

const text = 'select id, name from customers where id = $1';

describe('decide once', () => {
  it('Bind and Execute of an unchanged prepared statement make no new decision', async () => {
    const r = rig('analyst');
    assert.equal((await step(r.gate, () => r.gate.parse('s1', text))).ok, true);
    assert.equal(r.decisions(), 1);
    for (let i = 0; i < 5; i++) {
      assert.equal((await step(r.gate, () => r.gate.bind('p1', 's1'))).ok, true);
      const v = await step(r.gate, () => r.gate.execute('p1'));
      assert.equal(v.ok, true);
      assert.equal(v.ok === true && v.info?.text, text);
      assert.ok(v.ok === true && v.results?.[0]?.outputs?.length === 2, 'the rows\' provenance comes with the verdict');
    }
    assert.equal(r.decisions(), 1);
  });

  it('a policy reload decides again at Execute, and a revoked grant refuses', async () => {
    const r = rig('analyst');
    await step(r.gate, () => r.gate.parse('s1', text));
    await step(r.gate, () => r.gate.bind('p1', 's1'));
    assert.equal((await step(r.gate, () => r.gate.execute('p1'))).ok, true);
    // The analysts' policy without customers.
    r.reload(POLICIES.map((p) => (p.name === 'analysts' ? { ...p, allow: [{ tables: ['public.orders'], operations: ['select'] }] } : p)));
    const v = await step(r.gate, () => r.gate.execute('p1'));
    assert.equal(v.ok, false);
    assert.match(v.ok === false ? v.error.message : '', /customers/);
    assert.equal(r.decisions(), 1, 'the refusal came from the policy, before masking');
  });

  it('a search_path change since Parse analyses again at Bind: the name means what it means now', async () => {
    const r = rig('migrator');
    await step(r.gate, () => r.gate.parse('s1', 'select id from orders'));
    await step(r.gate, () => r.gate.bind('p1', 's1'));
    const first = await step(r.gate, () => r.gate.execute('p1'));
    assert.equal(first.ok === true && first.results?.[0]?.relations?.[0]?.schema, 'public');
    assert.equal((await step(r.gate, () => r.gate.query('set search_path = sales, public'))).ok, true);
    const decided = r.decisions();
    await step(r.gate, () => r.gate.bind('p2', 's1'));
    const v = await step(r.gate, () => r.gate.execute('p2'));
    assert.equal(v.ok === true && v.results?.[0]?.relations?.[0]?.schema, 'sales', 'orders is sales.orders now');
    assert.equal(r.decisions(), decided + 1, 'decided again');
  });

  it('SET LOCAL search_path holds until the transaction ends, and Bind follows it both ways', async () => {
    const r = rig('migrator');
    const schemaAt = async (portal: string, status: 'I' | 'T') => {
      await step(r.gate, () => r.gate.bind(portal, 's1'), status);
      const v = await step(r.gate, () => r.gate.execute(portal), status);
      return v.ok === true ? v.results?.[0]?.relations?.[0]?.schema : `refused: ${v.ok === false ? v.error.message : ''}`;
    };
    await step(r.gate, () => r.gate.parse('s1', 'select id from orders'));
    assert.equal(await schemaAt('p1', 'I'), 'public');
    await step(r.gate, () => r.gate.query('begin'), 'T');
    assert.equal(await schemaAt('p2', 'T'), 'public');
    await step(r.gate, () => r.gate.query('set local search_path = sales, public'), 'T');
    assert.equal(await schemaAt('p3', 'T'), 'sales');
    assert.equal(await schemaAt('p4', 'T'), 'sales');
    await step(r.gate, () => r.gate.query('commit'), 'I');
    assert.equal(await schemaAt('p5', 'I'), 'public');
  });

  it('simple queries that differ only in literals are analysed and decided once, and audited with their own text', async () => {
    const r = rig('analyst');
    for (const id of [1, 22, 333, 4444]) {
      const sql = `select id, name from customers where id = ${id}`;
      const v = await step(r.gate, () => r.gate.query(sql));
      assert.equal(v.ok, true);
      assert.equal(v.ok === true && v.info?.text, sql);
    }
    assert.equal(r.decisions(), 1);
  });

  it('a refusal that depends on a literal is not bypassed by warming with an allowed variant', async () => {
    const cache = new AnalysisCache(64);
    const r = rig('migrator', { cache, reviewRule: (a) => a.some((x) => x.specials.includes('delete_without_where')) });
    for (const sql of ['delete from orders where id = 5', 'delete from orders where id = 6']) {
      assert.equal((await step(r.gate, () => r.gate.query(sql))).ok, true);
    }
    assert.equal(r.reviewed.length, 0);
    await step(r.gate, () => r.gate.query('delete from orders where 1 = 1'));
    assert.equal(r.reviewed.length, 1, 'an unbounded delete is held for review');
    assert.equal(r.reviewed[0].text, 'delete from orders where 1 = 1');
  });

  it('a statement a review rule holds is reviewed on its own text, not on a variant found by literal key', async () => {
    const cache = new AnalysisCache(64);
    const r = rig('migrator', { cache, reviewRule: (a) => a.some((x) => x.command === 'delete') });
    await step(r.gate, () => r.gate.query('delete from orders where id = 5'));
    await step(r.gate, () => r.gate.query('delete from orders where id = 6'));
    assert.equal(r.reviewed.length, 2);
    assert.equal(r.reviewed[1].text, 'delete from orders where id = 6');
    assert.equal(r.reviewed[1].analyses[0].text, 'delete from orders where id = 6', 'the row estimate runs the analysis\' text');
  });

  it('a refused statement is refused again each time, with its message', async () => {
    const r = rig('analyst');
    for (const id of [1, 2]) {
      const v = await step(r.gate, () => r.gate.query(`select ssn from customers where id = ${id}`));
      assert.equal(v.ok, false);
      assert.ok(v.ok === false && v.error instanceof GatewayError && /ssn/.test(v.error.message));
    }
  });
});
