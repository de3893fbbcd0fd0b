/**
 * The blast-radius estimate's pure parts: which statements get an EXPLAIN (and exactly what text
 * is sent for them), and how the rows a plan would write are read from EXPLAIN's JSON.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { testCatalog } from '../sql/fixture.ts';
import { analyse, loadParser, type StatementAnalysis } from '../sql/index.ts';
import { explainText, writtenRows } from './row-estimate.ts';

before(async () => {
  await loadParser();
});

const ctx = { catalog: testCatalog(), searchPath: ['public'] };
const one = (sql: string): StatementAnalysis => analyse(sql, ctx)[0];

describe('explainText', () => {
  test('a DML statement is explained as written, planning only', () => {
    assert.deepEqual(explainText(one('DELETE FROM orders WHERE id > 10'), []), ['EXPLAIN (FORMAT JSON) DELETE FROM orders WHERE id > 10']);
  });
  test('each statement of a string is explained on its own text', () => {
    const [a, b] = analyse('SELECT 1; UPDATE orders SET status = $$x$$ WHERE id < 3', ctx);
    assert.deepEqual(explainText(b, []), ['EXPLAIN (FORMAT JSON) UPDATE orders SET status = $$x$$ WHERE id < 3']);
    assert.deepEqual(explainText(a, []), ['EXPLAIN (FORMAT JSON) SELECT 1']);
  });
  test('parameters are planned with their values, quoted as literals', () => {
    assert.deepEqual(explainText(one('DELETE FROM orders WHERE id > $1 AND status = $2 OR $3'), ['10', "o'x\\", null]), [
      'DEALLOCATE ALL',
      'PREPARE pgwarden_estimate AS DELETE FROM orders WHERE id > $1 AND status = $2 OR $3',
      "EXPLAIN (FORMAT JSON) EXECUTE pgwarden_estimate('10', 'o''x\\', NULL)",
    ]);
  });
  // Fail closed: these are never sent (the limit treats them as over).
  const refused: [string, string, (string | null)[]][] = [
    ['EXPLAIN ANALYZE would run the statement', 'EXPLAIN ANALYZE DELETE FROM orders WHERE id > 10', []],
    ['a utility statement has no plan', 'TRUNCATE orders', []],
    ['COPY has no plan', 'COPY orders FROM STDIN', []],
    ['PREPARE is judged by its statement, not planned', 'PREPARE p AS DELETE FROM orders', []],
    ['binary parameters have no known type', 'DELETE FROM orders WHERE id = $1', ['base64:AAAAAQ==']],
  ];
  for (const [name, sql, params] of refused) {
    test(`not explained: ${name}`, () => {
      const a = one(sql);
      assert.equal(explainText(a, params), undefined);
      if (a.inner) assert.equal(explainText(a.inner, params), undefined, 'nor the statement inside, whose text is the outer one');
    });
  }
  test('the statement inside an EXPLAIN ANALYZE carries the outer text, so it is not explained either', () => {
    const inner = one('EXPLAIN ANALYZE DELETE FROM orders WHERE true').inner!;
    assert.equal(inner.node, 'DeleteStmt');
    assert.equal(explainText(inner, []), undefined);
  });
});

describe('writtenRows', () => {
  const scan = (rows: number) => ({ 'Node Type': 'Seq Scan', 'Parent Relationship': 'Outer', 'Plan Rows': rows });
  const modify = (rows: number, extra: object = {}) => ({ 'Node Type': 'ModifyTable', Operation: 'Delete', 'Plan Rows': 0, Plans: [scan(rows)], ...extra });
  const table: [string, unknown, number | null][] = [
    ['a DELETE: the rows of its input', [{ Plan: modify(40) }], 40],
    ['an UPDATE through a join', [{ Plan: { ...modify(0), Plans: [{ 'Node Type': 'Hash Join', 'Parent Relationship': 'Outer', 'Plan Rows': 7, Plans: [scan(50), scan(3)] }] } }], 7],
    ['a data-modifying CTE under a SELECT', [{ Plan: { 'Node Type': 'Aggregate', 'Plan Rows': 1, Plans: [{ ...modify(25), 'Parent Relationship': 'InitPlan' }, scan(25)] } }], 25],
    ['two writes add up', [{ Plan: { 'Node Type': 'Result', Plans: [modify(5), modify(6)] } }], 11],
    ['a rule-rewritten statement: several plans', [{ Plan: modify(2) }, { Plan: modify(3) }], 5],
    ['a plan without a write cannot be measured', [{ Plan: scan(10) }], null],
    ['not a plan', 'nonsense', null],
  ];
  for (const [name, plan, expected] of table) test(name, () => assert.equal(writtenRows(plan), expected));
});
