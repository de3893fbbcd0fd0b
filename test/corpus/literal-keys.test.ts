/**
 * Deciding by literal key changes no decision: every case of the scope corpus and of the
 * masking-flow corpus is run with literal keys off, with them on, and with them on after the
 * shared analysis cache was warmed by a variant of the case (every literal given another value
 * of its class, setup statements included). The verdict, the message and the rows' provenance
 * (what masking plans are made from) must be the same each way.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { AnalysisCache, literalKey, literalsIrrelevant, loadParser } from '../../src/sql/index.ts';
import { parseStatements } from '../../src/sql/parser.ts';
import { literalVariant } from '../../src/sql/test-variant.ts';
import { ddlFamilies } from './cases-ddl.ts';
import { lexingFamilies } from './cases-lexing.ts';
import { maskingFlowFamilies } from './cases-masking-flows.ts';
import { nameFamilies } from './cases-names.ts';
import { readFamilies } from './cases-reads.ts';
import { renameFamilies } from './cases-renames.ts';
import { sessionFamilies } from './cases-session.ts';
import { writeFamilies } from './cases-writes.ts';
import { run, type Case } from './harness.ts';
import { run as runMasked } from './masking-harness.ts';

before(async () => {
  await loadParser();
});

function variantOf(c: Case): Case {
  return {
    ...c,
    sql: literalVariant(c.sql),
    ...(c.before && { before: c.before.map(literalVariant) }),
    ...(c.refusedBefore && { refusedBefore: c.refusedBefore.map(literalVariant) }),
    ...(c.failsBefore && { failsBefore: c.failsBefore.map(literalVariant) }),
  };
}

function keyed(text: string): boolean {
  try {
    const key = literalKey(text);
    return key !== null && literalsIrrelevant(parseStatements(text).map((s) => s.stmt), key);
  } catch {
    return false;
  }
}

type Runner = (c: Case, cache: AnalysisCache) => { verdict: string; message: string; results: string };

function threeWays(name: string, cases: Case[], runner: Runner, minKeyed: number): void {
  describe(name, () => {
    test('literal keys decide as exact keys, cold and after a warmed variant', (t) => {
      let literalKeyed = 0;
      for (const c of cases) {
        const exact = runner(c, new AnalysisCache(64, undefined, false));
        const cold = runner(c, new AnalysisCache(64));
        const shared = new AnalysisCache(256);
        const v = variantOf(c);
        try {
          runner(v, shared);
        } catch {
          // A variant's setup may be refused: it warmed the cache as far as it went.
        }
        const warm = runner(c, shared);
        if (v.sql !== c.sql && keyed(c.sql)) literalKeyed++;
        const why = `${c.who}: ${c.sql}\n  variant: ${v.sql}`;
        for (const [label, o] of [['cold', cold], ['warmed', warm]] as const) {
          assert.equal(o.verdict, exact.verdict, `${label} ${why}`);
          assert.equal(o.message, exact.message, `${label} ${why}`);
          assert.equal(o.results, exact.results, `${label} ${why}`);
        }
      }
      // The comparison means something only if cases are in fact found by literal key.
      t.diagnostic(`${literalKeyed} of ${cases.length} cases are keyed by their literals`);
      assert.ok(literalKeyed >= minKeyed, `only ${literalKeyed} cases are keyed by their literals`);
    });
  });
}

const scopeCases = [...readFamilies, ...writeFamilies, ...sessionFamilies, ...ddlFamilies, ...lexingFamilies, ...nameFamilies, ...renameFamilies].flatMap((f) => f.cases);
threeWays('scope corpus', scopeCases, (c, cache) => run(c, cache), 20);
threeWays('masking-flow corpus', maskingFlowFamilies.flatMap((f) => f.cases), (c, cache) => runMasked(c, cache), 3);
