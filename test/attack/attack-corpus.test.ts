/**
 * The permanent attack corpus, judged by effect against a real PostgreSQL (see harness.ts):
 * checksums of data and schema, every byte the client received searched for protected values,
 * the server's own statement log. A case is phrased as the verdict it protects and never leaves
 * the corpus (STYLE.md rules 16 and 22).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { effectFamilies } from './cases-effects.ts';
import { executionFamilies } from './cases-execution.ts';
import { leakFamilies } from './cases-leaks.ts';
import { runAttack, type Family } from './harness.ts';
import { startWorld, type World } from './world.ts';

const families: Family[] = [...executionFamilies, ...leakFamilies, ...effectFamilies];

let world: World;
before(async () => {
  world = await startWorld();
});
after(async () => {
  await world?.stop();
});

describe('attack corpus', () => {
  test('has many cases per family and unique names', () => {
    const names = new Set<string>();
    for (const f of families) {
      assert.ok(f.cases.length >= 3, `family ${f.family} has only ${f.cases.length} cases`);
      for (const c of f.cases) {
        assert.ok(!names.has(c.name), `duplicate case name: ${c.name}`);
        names.add(c.name);
      }
    }
    assert.ok(names.size >= 150, `the corpus has ${names.size} cases`);
  });

  for (const f of families) {
    describe(f.family, () => {
      for (const c of f.cases) {
        test(c.name, async () => {
          const o = await runAttack(world, c);
          assert.deepEqual(o.problems, [], `${c.name}\n  errors the client saw: ${o.errors.join(' | ') || 'none'}`);
        });
      }
    });
  }
});
