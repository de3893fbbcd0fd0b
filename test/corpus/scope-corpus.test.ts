/**
 * The permanent scope corpus: statements run through the session's real policy gate (libpg-query
 * analysis against the fixture catalog, the fixed policies of `policies.ts`, `decide`), each with
 * the verdict it must get. Cases are phrased as the verdicts they protect and grouped by bypass
 * family; a case never leaves the corpus (STYLE.md rule 16). A failure prints the statement, the
 * gate's message and the rule of the direct decision.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadParser } from '../../src/sql/index.ts';
import { ddlFamilies } from './cases-ddl.ts';
import { lexingFamilies } from './cases-lexing.ts';
import { nameFamilies } from './cases-names.ts';
import { readFamilies } from './cases-reads.ts';
import { sessionFamilies } from './cases-session.ts';
import { writeFamilies } from './cases-writes.ts';
import { renameFamilies } from './cases-renames.ts';
import { describe as explain, run, type Family } from './harness.ts';

const families: Family[] = [...readFamilies, ...writeFamilies, ...sessionFamilies, ...ddlFamilies, ...lexingFamilies, ...nameFamilies, ...renameFamilies];
const cases = families.flatMap((f) => f.cases);

before(async () => {
  await loadParser();
});

describe('scope corpus', () => {
  test('has at least 300 cases, both verdicts well represented, and unique names', () => {
    const allowed = cases.filter((c) => c.expect === 'allow').length;
    assert.ok(cases.length >= 300, `the corpus has ${cases.length} cases; it must keep at least 300`);
    assert.ok(allowed >= 80, `only ${allowed} cases expect allow: a corpus that only denies would not notice an engine that denies everything`);
    assert.ok(cases.length - allowed >= 150, `only ${cases.length - allowed} cases expect a refusal`);
    const names = new Set<string>();
    for (const f of families) {
      for (const c of f.cases) {
        const key = `${f.family} / ${c.name}`;
        assert.ok(!names.has(key), `duplicate case name: ${key}`);
        names.add(key);
      }
    }
  });

  for (const f of families) {
    describe(f.family, () => {
      for (const c of f.cases) {
        test(c.name, () => {
          const o = run(c);
          const why = explain(c, o);
          if (c.expect === 'allow') {
            assert.equal(o.verdict, 'allow', why);
            return;
          }
          assert.equal(o.verdict, 'deny', why);
          assert.match(o.message, c.expect, why);
          assert.match(o.message, /^pgwarden: /, why);
          if (c.rule !== undefined) {
            assert.ok(o.direct.verdict === 'deny' && o.direct.rule === c.rule, `${why}\n  expected rule: ${c.rule}`);
          }
        });
      }
    });
  }
});
