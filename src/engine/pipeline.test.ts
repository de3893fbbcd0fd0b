/**
 * The stage list is the engine's one statement of its order of checks: it must name only errors
 * that exist, account for every error code, and list every code the engine's own files raise.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../errors.ts';
import { CLOCK_BUCKETS, OUTSIDE_PIPELINE, STAGES, StageClock, timeMethods } from './pipeline.ts';

describe('pipeline stages', () => {
  it('are in the documented order', () => {
    assert.deepEqual(
      STAGES.map((s) => s.name),
      ['frame', 'analyse', 'decide', 'review', 'audit', 'forward', 'track result', 'mask', 'complete'],
    );
  });

  it('name only error codes that exist, with their SQLSTATE or a valid one of PostgreSQL', () => {
    for (const stage of STAGES) {
      for (const err of stage.errors) {
        assert.ok(err.code in ERROR_CODES, `${stage.name}: ${err.code} is not in ERROR_CODES`);
        assert.match(err.sqlstate, /^[0-9A-Z]{5}$/, `${stage.name}: ${err.code}`);
        const own = ERROR_CODES[err.code].sqlstate;
        if (err.sqlstate !== own) {
          // An override is PostgreSQL's own SQLSTATE for that case (26000, 34000, 54000), never
          // another class's for no reason: it must say when it applies.
          assert.ok(err.when.length > 10, `${stage.name}: ${err.code} as ${err.sqlstate} says when`);
        }
      }
      assert.ok(CLOCK_BUCKETS.includes(stage.clock));
    }
  });

  it('account for every error code: produced by a stage, or outside the pipeline', () => {
    const produced = new Set<string>(STAGES.flatMap((s) => s.errors.map((e) => e.code)));
    for (const code of Object.keys(ERROR_CODES)) {
      assert.ok(produced.has(code) || code in OUTSIDE_PIPELINE, `${code} is produced by no stage and not listed in OUTSIDE_PIPELINE`);
    }
    for (const code of Object.keys(OUTSIDE_PIPELINE)) assert.ok(code in ERROR_CODES, `${code} in OUTSIDE_PIPELINE is not an error code`);
  });

  it('list every code the engine raises', () => {
    const dir = import.meta.dirname;
    const listed = new Set<string>([...STAGES.flatMap((s) => s.errors.map((e) => e.code)), ...Object.keys(OUTSIDE_PIPELINE)]);
    const raised = new Map<string, string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/GatewayError\(\s*'([a-z_.]+)'/g)) raised.set(m[1], f);
    }
    assert.ok(raised.size >= 10, 'the scan finds the engine’s codes');
    for (const [code, file] of raised) assert.ok(listed.has(code), `${file} raises ${code}, which no stage lists`);
    // Codes whose SQLSTATE the engine overrides are listed with the override.
    const overrides = STAGES.flatMap((s) => s.errors).filter((e) => e.sqlstate !== ERROR_CODES[e.code as ErrorCode].sqlstate);
    assert.deepEqual(overrides.map((e) => e.sqlstate).sort(), ['26000', '34000', '54000']);
  });
});

describe('StageClock', () => {
  it('counts nested time once, in the innermost bucket', () => {
    const clock = new StageClock();
    const spin = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const t0 = performance.now();
    clock.top('relay');
    spin(2);
    clock.enter('decide');
    spin(2);
    clock.enter('analyse');
    spin(4);
    clock.leave();
    clock.leave();
    spin(2);
    clock.end();
    const wall = performance.now() - t0;
    clock.statements = 2;
    const { us } = clock.perStatement();
    // Per statement at least: relay 2 ms, decide 1 ms, analyse 2 ms (a busy machine adds, never
    // removes), and together no more than the time that passed: nothing is counted twice.
    assert.ok(us.analyse >= 1990, `analyse ${us.analyse}`);
    assert.ok(us.decide >= 990, `decide ${us.decide}`);
    assert.ok(us.relay >= 1990, `relay ${us.relay}`);
    assert.equal(us.audit, 0);
    const total = (us.analyse + us.decide + us.relay) * 2;
    assert.ok(total <= wall * 1000 + 1, `${total} µs counted in ${wall * 1000} µs`);
    clock.reset();
    assert.deepEqual(clock.perStatement(), { statements: 0, us: { analyse: 0, decide: 0, audit: 0, relay: 0, mask: 0 } });
  });

  it('times methods in place, on the same object, and counts decided statements', () => {
    const clock = new StageClock();
    const gate = {
      n: 0,
      query(this: { n: number }, t: string) {
        this.n++;
        return t === 'hold' ? { ok: 'retry' } : { ok: true };
      },
      close() {
        return 'closed';
      },
    };
    timeMethods(gate, ['query', 'missing'], 'decide', clock, ['query']);
    assert.deepEqual(gate.query('select 1'), { ok: true });
    assert.deepEqual(gate.query('hold'), { ok: 'retry' });
    assert.equal(gate.n, 2, 'the state is the object’s own');
    assert.equal(gate.close(), 'closed');
    assert.equal(clock.statements, 1, 'a held statement is counted when it is decided');
    assert.ok(clock.perStatement().us.decide > 0);
  });

  it('leaves the buckets balanced when a timed method throws', () => {
    const clock = new StageClock();
    const o = {
      boom() {
        throw new Error('x');
      },
    };
    timeMethods(o, ['boom'], 'audit', clock);
    clock.top('relay');
    assert.throws(() => o.boom());
    clock.enter('mask');
    clock.leave();
    clock.end();
    clock.statements = 1;
    assert.ok(clock.perStatement().us.relay > 0);
  });
});
