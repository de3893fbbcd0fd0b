/**
 * The permanent masking-flow corpus: statements run through the session's real policy gate with
 * masking's decision wired in as the gateway wires it (`statementRefusal` for every analysis),
 * against the fixture catalog and the scope corpus' policies, each with the verdict it must get.
 * End-to-end attacks with effect checks are in test/e2e/masking-flows.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadParser } from '../../src/sql/index.ts';
import { maskingFlowFamilies } from './cases-masking-flows.ts';
import { run } from './masking-harness.ts';

const cases = maskingFlowFamilies.flatMap((f) => f.cases);

before(async () => {
  await loadParser();
});

describe('masking flow corpus', () => {
  test('both verdicts are represented and names are unique', () => {
    const allowed = cases.filter((c) => c.expect === 'allow').length;
    assert.ok(allowed >= 15 && cases.length - allowed >= 60, `${allowed} allowed of ${cases.length}`);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'duplicate case name');
  });
  for (const f of maskingFlowFamilies) {
    describe(f.family, () => {
      for (const c of f.cases) {
        test(c.name, () => {
          const o = run(c);
          const why = `${c.who}: ${c.sql}\n  got: ${o.verdict} ${o.message}`;
          if (c.expect === 'allow') return assert.equal(o.verdict, 'allow', why);
          assert.equal(o.verdict, 'deny', why);
          assert.match(o.message, c.expect, why);
          assert.match(o.message, /^pgwarden: /, why);
        });
      }
    });
  }
});
