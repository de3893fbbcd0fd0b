/**
 * The permanent review corpus: statements run through the session's real policy gate with the
 * demo's migrator review rule, each with the verdict it must get — held for review, or run. A
 * held statement is refused here (the review is never approved), so a case's `deny` reads "held".
 * A case never leaves the corpus (STYLE.md rule 16).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { compileReviews, reviewRuleFor, reviewsSchema } from '../../src/review/index.ts';
import { loadParser } from '../../src/sql/index.ts';
import { reviewFamilies } from './cases-reviews.ts';
import { describe as explain, direct, gateFor, type Case, type Outcome } from './harness.ts';
import { IDENTITIES } from './policies.ts';

const RULES = compileReviews(
  reviewsSchema.parse({
    rules: [{ name: 'migrator-destructive', when: ['drop', 'truncate', 'delete_without_where', 'update_without_where', 'rewrite'], match: { subjects: ['migrator'] }, approvers: { groups: ['dba'] } }],
  }),
);

async function run(c: Case): Promise<Outcome> {
  const identity = IDENTITIES[c.who];
  const gate = gateFor(c.who, c.searchPath, {
    ruleFor: (analyses) => {
      const r = reviewRuleFor(RULES, identity, analyses);
      return r && { name: r.name, mode: r.mode };
    },
    settle: async (q) => ({ approved: false, error: new GatewayError('review.required', `pgwarden: statement held for review under rule "${q.rule}"`) }),
  });
  for (let i = 0; i < 3; i++) {
    const v = gate.query(c.sql);
    if (v.ok === 'retry') {
      await v.retry;
      continue;
    }
    const d = direct(c.who, c.sql, c.searchPath);
    if (v.ok === true) return { verdict: 'allow', message: '', hint: '', direct: d };
    return { verdict: 'deny', message: v.error.message, hint: v.error.hint ?? '', direct: d };
  }
  throw new Error(`the gate asked to retry too often for: ${c.sql}`);
}

before(async () => {
  await loadParser();
});

describe('review corpus', () => {
  const cases = reviewFamilies.flatMap((f) => f.cases);
  test('has many cases of both verdicts', () => {
    assert.ok(cases.length >= 60, `only ${cases.length} cases`);
    assert.ok(cases.filter((c) => c.expect === 'allow').length >= 15);
  });
  for (const f of reviewFamilies) {
    describe(f.family, () => {
      for (const c of f.cases) {
        test(c.name, async () => {
          const o = await run(c);
          if (c.expect === 'allow') assert.equal(o.verdict, 'allow', explain(c, o));
          else {
            assert.equal(o.verdict, 'deny', explain(c, o));
            assert.match(o.message, c.expect, explain(c, o));
          }
        });
      }
    });
  }
});
