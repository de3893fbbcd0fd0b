/**
 * Review rule matching: table-driven over hand-built analyses (the shapes the analyser produces),
 * then a few statements through the real analyser to pin the command names the triggers rely on.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Identity } from '../identity/types.ts';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import type { DdlTarget, Special, StatementAnalysis, StatementClass, TableOperation } from '../sql/types.ts';
import { compileReviews, isApprover, isApproverOfAny, resolvedObjects, reviewAnalysis, reviewRuleFor, rowsNeeded } from './rules.ts';
import { reviewsSchema, type ReviewsConfigInput } from './schema.ts';

function stmt(command: string, cls: StatementClass, parts: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return { text: command, node: 'Stmt', command, class: cls, tables: [], columnUses: [], functions: [], ddl: [], settings: [], specials: [], ...parts };
}
function access(op: TableOperation, rel: string) {
  const [schema, name] = rel.split('.');
  return { op, relation: { schema, name, resolved: true }, columns: [] };
}
function target(action: DdlTarget['action'], objectType: string, schema?: string, name?: string, on?: string): DdlTarget {
  return { action, objectType, ...(schema ? { schema } : {}), ...(name ? { name } : {}), ...(on ? { on: { schema: on.split('.')[0], name: on.split('.')[1] } } : {}) };
}
function who(subject: string, groups: string[] = [], issuerName = 'agents'): Identity {
  return { issuer: `https://idp.example.com/${issuerName}`, issuerName, subject, groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

const dropTable = (rel: string) => stmt('drop table', 'ddl', { ddl: [target('drop', 'table', ...(rel.split('.') as [string, string]))] });
const deleteAll = (rel: string) => stmt('delete', 'write', { tables: [access('delete', rel)], specials: ['delete_without_where'] });
const deleteSome = (rel: string) => stmt('delete', 'write', { tables: [access('delete', rel)] });
const select = (rel: string) => stmt('select', 'read', { tables: [access('select', rel)] });
const special = (command: string, cls: StatementClass, specials: Special[], parts: Partial<StatementAnalysis> = {}) => stmt(command, cls, { specials, ...parts });

const CONFIG: ReviewsConfigInput = {
  store: 'memory',
  rules: [
    { name: 'payments', when: ['delete', 'update', 'truncate'], tables: ['billing.*'], approvers: { groups: ['finance'], count: 2 }, mode: 'defer' },
    { name: 'contractors', when: ['write'], match: { groups: ['contractors'] }, approvers: { subjects: ['alice'] } },
    {
      name: 'destructive',
      when: ['drop', 'truncate', 'alter', 'grant', 'revoke', 'delete_without_where', 'update_without_where', 'vacuum_full', 'dcl'],
      approvers: { groups: ['dba'] },
      match: { issuers: ['agents'] },
    },
  ],
};
const compiled = compileReviews(reviewsSchema.parse(CONFIG));
const agent = who('migrator', ['migrations']);
const contractor = who('temp-7', ['contractors']);
const human = who('alice', ['dba'], 'humans');

const cases: { name: string; who: Identity; analyses: StatementAnalysis[]; expect: string | null }[] = [
  { name: 'DROP TABLE is destructive', who: agent, analyses: [dropTable('public.orders')], expect: 'destructive' },
  { name: 'DROP INDEX is destructive', who: agent, analyses: [stmt('drop index', 'ddl', { ddl: [target('drop', 'index', 'public', 'orders_idx', 'public.orders')] })], expect: 'destructive' },
  { name: 'TRUNCATE is destructive', who: agent, analyses: [stmt('truncate', 'write', { tables: [access('truncate', 'public.orders')] })], expect: 'destructive' },
  { name: 'ALTER TABLE is destructive', who: agent, analyses: [stmt('alter table', 'ddl', { ddl: [target('alter', 'table', 'public', 'orders')] })], expect: 'destructive' },
  { name: 'GRANT is destructive', who: agent, analyses: [stmt('grant', 'dcl')], expect: 'destructive' },
  { name: 'REVOKE is destructive', who: agent, analyses: [stmt('revoke', 'dcl')], expect: 'destructive' },
  { name: 'CREATE ROLE is dcl, so destructive', who: agent, analyses: [stmt('create role', 'dcl')], expect: 'destructive' },
  { name: 'DELETE without WHERE is destructive', who: agent, analyses: [deleteAll('public.orders')], expect: 'destructive' },
  { name: 'UPDATE without WHERE is destructive', who: agent, analyses: [special('update', 'write', ['update_without_where'], { tables: [access('update', 'public.orders')] })], expect: 'destructive' },
  { name: 'DELETE with WHERE needs no review', who: agent, analyses: [deleteSome('public.orders')], expect: null },
  { name: 'a SELECT needs no review', who: agent, analyses: [select('public.orders')], expect: null },
  { name: 'CREATE TABLE is not in the destructive list', who: agent, analyses: [stmt('create table', 'ddl', { ddl: [target('create', 'table', 'public', 'x')] })], expect: null },
  { name: 'VACUUM FULL is destructive', who: agent, analyses: [stmt('vacuum', 'ddl', { text: 'VACUUM FULL public.orders' })], expect: 'destructive' },
  { name: 'VACUUM (FULL, ANALYZE) is destructive', who: agent, analyses: [stmt('vacuum', 'ddl', { text: 'vacuum (full, analyze) public.orders' })], expect: 'destructive' },
  { name: 'plain VACUUM needs no review', who: agent, analyses: [stmt('vacuum', 'ddl', { text: 'VACUUM public.orders' })], expect: null },
  { name: 'VACUUM of a table quoted "full" is not VACUUM FULL', who: agent, analyses: [stmt('vacuum', 'ddl', { text: 'VACUUM public."full"' })], expect: null },
  { name: 'one destructive statement in a string holds the whole string', who: agent, analyses: [select('public.orders'), dropTable('public.orders')], expect: 'destructive' },
  { name: 'EXPLAIN ANALYZE runs its DELETE without WHERE', who: agent, analyses: [special('explain', 'write', ['explain_analyze'], { inner: deleteAll('public.orders') })], expect: 'destructive' },
  { name: 'plain EXPLAIN does not run its DELETE', who: agent, analyses: [stmt('explain', 'read', { inner: deleteAll('public.orders') })], expect: null },
  { name: 'PREPARE of a DELETE without WHERE is held', who: agent, analyses: [special('prepare', 'session', ['prepare'], { inner: deleteAll('public.orders') })], expect: 'destructive' },
  { name: 'an identity of another issuer is not matched by an issuers-only match', who: who('migrator', [], 'other'), analyses: [dropTable('public.orders')], expect: null },
  { name: 'tables: a DELETE on billing needs the payments rule (first match wins)', who: agent, analyses: [deleteAll('billing.invoices')], expect: 'payments' },
  { name: 'tables: a DELETE with WHERE on billing still needs payments', who: agent, analyses: [deleteSome('billing.invoices')], expect: 'payments' },
  { name: 'tables: a SELECT on billing is not a trigger', who: agent, analyses: [select('billing.invoices')], expect: null },
  { name: 'tables: DROP SCHEMA billing touches every billing table', who: agent, analyses: [stmt('drop schema', 'ddl', { ddl: [target('drop', 'schema', undefined, 'billing')] })], expect: 'destructive' },
  { name: 'match groups: a contractor writing anything is reviewed', who: contractor, analyses: [stmt('insert', 'write', { tables: [access('insert', 'public.orders')] })], expect: 'contractors' },
  { name: 'match groups: an agent writing with WHERE is not a contractor', who: agent, analyses: [stmt('insert', 'write', { tables: [access('insert', 'public.orders')] })], expect: null },
];

describe('reviewRuleFor', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(reviewRuleFor(compiled, c.who, c.analyses)?.name ?? null, c.expect);
    });
  }

  test('a rule with tables applies to a DDL target on a matching table, or an object on one', () => {
    const rules = compileReviews(reviewsSchema.parse({ rules: [{ name: 'r', when: ['drop', 'alter'], tables: ['billing.*'], approvers: { groups: ['dba'] } }] }));
    assert.equal(reviewRuleFor(rules, agent, [dropTable('billing.invoices')])?.name, 'r');
    assert.equal(reviewRuleFor(rules, agent, [dropTable('public.orders')]), null);
    const dropTrigger = stmt('drop trigger', 'ddl', { ddl: [target('drop', 'trigger', undefined, 'audit_trg', 'billing.invoices')] });
    assert.equal(reviewRuleFor(rules, agent, [dropTrigger])?.name, 'r');
    const vacuumAll = stmt('alter system', 'ddl', { ddl: [target('alter', 'database', undefined, 'shop')] });
    assert.equal(reviewRuleFor(rules, agent, [vacuumAll])?.name, 'r', 'a database-wide command touches every table');
  });

  test('no rules: nothing is reviewed', () => {
    assert.equal(reviewRuleFor(compileReviews(undefined), agent, [dropTable('public.orders')]), null);
  });
});

describe('approvers', () => {
  const payments = compiled.rules[0];
  test('group or subject membership, optionally limited to issuers', () => {
    assert.equal(isApprover(payments.approvers, who('bob', ['finance'])), true);
    assert.equal(isApprover(payments.approvers, who('bob', ['sales'])), false);
    assert.equal(isApprover(compiled.rules[1].approvers, who('alice')), true);
    const humansOnly = { groups: ['dba'], subjects: [], issuers: ['humans'], count: 1 };
    assert.equal(isApprover(humansOnly, human), true);
    assert.equal(isApprover(humansOnly, who('alice', ['dba'], 'agents')), false);
  });
  test('isApproverOfAny lets an approver of any rule into the API', () => {
    assert.equal(isApproverOfAny(compiled, human), true);
    assert.equal(isApproverOfAny(compiled, agent), false);
  });
});

describe('reviewsSchema', () => {
  test('defaults: a SQLite store next to the other state, no rules, no webhooks', () => {
    assert.deepEqual(reviewsSchema.parse({}), { store: 'sqlite:./pgwarden-data/reviews.db', rules: [], webhooks: [] });
  });
  test('a rule gets mode wait, a 15 minute timeout and a 1 hour window by default', () => {
    const r = reviewsSchema.parse({ rules: [{ name: 'd', when: ['drop'], approvers: { groups: ['dba'] } }] }).rules[0];
    assert.equal(r.mode, 'wait');
    assert.equal(r.timeout, 15 * 60_000);
    assert.equal(r.window, 3_600_000);
    assert.equal(r.approvers.count, 1);
  });
  test('a bare list is the rules', () => {
    assert.equal(reviewsSchema.parse([{ name: 'd', when: ['drop'], approvers: { groups: ['dba'] } }]).rules.length, 1);
  });
  const bad: [string, unknown, string][] = [
    ['an unknown trigger', { rules: [{ name: 'd', when: ['explode'], approvers: { groups: ['dba'] } }] }, 'rules.0.when.0'],
    ['no approvers', { rules: [{ name: 'd', when: ['drop'], approvers: {} }] }, 'rules.0.approvers'],
    ['count above the subjects named', { rules: [{ name: 'd', when: ['drop'], approvers: { subjects: ['a'], count: 2 } }] }, 'rules.0.approvers'],
    ['a bare table name', { rules: [{ name: 'd', when: ['drop'], tables: ['orders'], approvers: { groups: ['dba'] } }] }, 'rules.0.tables.0'],
    ['two rules with one name', { rules: [0, 1].map(() => ({ name: 'd', when: ['drop'], approvers: { groups: ['dba'] } })) }, 'rules.1.name'],
    ['an empty match', { rules: [{ name: 'd', when: ['drop'], match: {}, approvers: { groups: ['dba'] } }] }, 'rules.0.match'],
    ['a webhook that is not http', { webhooks: [{ url: 'ftp://example.com/x', secret: 'a-secret-of-16-chars' }] }, 'webhooks.0.url'],
    ['a short webhook secret', { webhooks: [{ url: 'https://example.com/x', secret: 'abc' }] }, 'webhooks.0.secret'],
    ['a webhook without a secret', { webhooks: [{ url: 'https://example.com/x' }] }, 'webhooks.0.secret'],
    ['a store that is neither sqlite:, postgres:// nor memory', { store: 'mysql://db/x' }, 'store'],
  ];
  for (const [name, input, path] of bad) {
    test(`refused: ${name} (at ${path})`, () => {
      const r = reviewsSchema.safeParse(input);
      assert.equal(r.success, false, 'expected a validation error');
      assert.deepEqual(
        r.error!.issues.map((i) => i.path.join('.')),
        [path],
      );
    });
  }
});

describe('with the real analyser', () => {
  before(async () => {
    await loadParser();
  });
  const catalog = testCatalog();
  const run = (sql: string) => reviewRuleFor(compiled, agent, analyse(sql, { catalog, searchPath: ['public'] }))?.name ?? null;

  const real: [string, string | null][] = [
    ['DROP TABLE orders', 'destructive'],
    ['TRUNCATE orders', 'destructive'],
    ['DELETE FROM orders', 'destructive'],
    ['DELETE FROM orders WHERE id = 1', null],
    ['UPDATE orders SET status = $1', 'destructive'],
    ['ALTER TABLE orders ADD COLUMN x int', 'destructive'],
    ['GRANT SELECT ON orders TO PUBLIC', 'destructive'],
    ['REVOKE SELECT ON orders FROM PUBLIC', 'destructive'],
    ['VACUUM FULL orders', 'destructive'],
    ['VACUUM (FULL) orders', 'destructive'],
    ['VACUUM orders', null],
    ['SELECT * FROM orders', null],
    ['SELECT 1; DROP TABLE customers', 'destructive'],
  ];
  for (const [sql, expect] of real) {
    test(`${sql} → ${expect ?? 'no review'}`, () => {
      assert.equal(run(sql), expect);
    });
  }

  test('reviewAnalysis summarises the command, class and the tables touched', () => {
    const a = reviewAnalysis(analyse('DROP TABLE orders', { catalog, searchPath: ['public'] }));
    assert.deepEqual(a, { command: 'drop table', class: 'ddl', tables: ['public.orders'] });
    const two = reviewAnalysis(analyse('DELETE FROM orders; TRUNCATE customers', { catalog, searchPath: ['public'] }));
    assert.deepEqual(two, { command: 'delete; truncate', class: 'write', tables: ['public.orders', 'public.customers'] });
    const withPath = reviewAnalysis(analyse('DROP TABLE orders', { catalog, searchPath: ['sales', 'public'] }), ['sales', 'public']);
    assert.deepEqual(withPath, { command: 'drop table', class: 'ddl', tables: ['sales.orders'], searchPath: ['sales', 'public'] });
  });

  // What an approval is bound to: the same text is another binding when it means other objects.
  const bound = (sql: string, path: string[]) => JSON.stringify(resolvedObjects(analyse(sql, { catalog, searchPath: path }), path));
  const differs: [string, string, string[], string, string[]][] = [
    ['a DROP resolving to another schema', 'DROP TABLE orders', ['public'], 'DROP TABLE orders', ['sales', 'public']],
    ['a DELETE resolving to another schema', 'DELETE FROM orders', ['public'], 'DELETE FROM orders', ['sales']],
    ['a TRUNCATE resolving to another schema', 'TRUNCATE orders', ['public'], 'TRUNCATE orders', ['sales']],
    ['the same objects under another search_path (a function in it could resolve elsewhere)', 'DROP TABLE public.orders', ['public'], 'DROP TABLE public.orders', ['sales', 'public']],
    ['a qualified and an unqualified name of different tables', 'DROP TABLE orders', ['public'], 'DROP TABLE sales.orders', ['public']],
  ];
  for (const [name, a, pa, b, pb] of differs) test(`resolvedObjects: ${name} is another binding`, () => assert.notEqual(bound(a, pa), bound(b, pb)));
  test('resolvedObjects: the same text on the same path is the same binding, with the OIDs', () => {
    assert.equal(bound('DELETE FROM orders', ['public']), bound('DELETE FROM orders', ['public']));
    const r = resolvedObjects(analyse('DELETE FROM orders', { catalog, searchPath: ['public'] }), ['public']);
    assert.ok(r.objects.some((o) => /^relation \["public","orders"\] oid \d+ delete$/.test(o)), JSON.stringify(r.objects));
  });
  test('resolvedObjects: what an EXECUTE runs is part of the binding (an UPDATE and a DELETE of one table differ)', () => {
    const prepared = (inner: string) => [...analyse('EXECUTE d', { catalog, searchPath: ['public'] }), ...analyse(inner, { catalog, searchPath: ['public'] })];
    const a = JSON.stringify(resolvedObjects(prepared('UPDATE orders SET status = status'), ['public']));
    const b = JSON.stringify(resolvedObjects(prepared('DELETE FROM orders'), ['public']));
    assert.notEqual(a, b);
    assert.deepEqual(reviewAnalysis(prepared('DELETE FROM orders'), ['public'], 'EXECUTE d').runs, ['DELETE FROM orders']);
    assert.equal(reviewAnalysis(analyse('DELETE FROM orders', { catalog, searchPath: ['public'] }), ['public'], 'DELETE FROM orders').runs, undefined);
  });
});

describe('triggers by effect, with the real analyser', () => {
  before(async () => {
    await loadParser();
  });
  const catalog = testCatalog();
  const analysesOf = (sql: string) => analyse(sql, { catalog, searchPath: ['public'] });
  const rule = (when: string[]) => compileReviews(reviewsSchema.parse({ rules: [{ name: 'r', when, approvers: { groups: ['dba'] } }] }));
  const held = (when: string[], sql: string) => reviewRuleFor(rule(when), agent, analysesOf(sql)) !== null;

  // [trigger, statement, held?]
  const table: [string, string, boolean][] = [
    // `drop` is every removal, not only the DROP command.
    ['drop', 'DROP TABLE orders', true],
    ['drop', 'DROP INDEX orders_idx', true],
    ['drop', 'DROP OWNED BY someone', true],
    ['drop', 'ALTER TABLE orders DROP COLUMN total', true],
    ['drop', 'ALTER TABLE orders ADD COLUMN x int, DROP COLUMN total', true],
    ['drop', 'ALTER TABLE orders DROP CONSTRAINT orders_pkey', true],
    ['drop', 'ALTER TABLE orders ALTER COLUMN status DROP DEFAULT', true],
    ['drop', 'ALTER TABLE orders ALTER COLUMN status DROP NOT NULL', true],
    ['drop', 'ALTER TABLE orders ALTER COLUMN id DROP IDENTITY', true],
    ['drop', 'ALTER TABLE sales.targets DETACH PARTITION sales.targets_eu', true],
    ['drop', 'ALTER TABLE orders NO INHERIT sales.orders', true],
    ['drop', 'ALTER TYPE mood DROP ATTRIBUTE a', true],
    ['drop', 'ALTER DOMAIN d DROP CONSTRAINT c', true],
    ['drop', 'ALTER DOMAIN d DROP DEFAULT', true],
    ['drop', 'ALTER EXTENSION e DROP FUNCTION f()', true],
    ['drop', 'ALTER PUBLICATION p DROP TABLE orders', true],
    ['drop', 'ALTER TABLE orders ALTER COLUMN status SET DEFAULT 1', false],
    ['drop', 'ALTER DOMAIN d SET DEFAULT 1', false],
    ['drop', 'ALTER EXTENSION e ADD FUNCTION f()', false],
    ['drop', 'ALTER TABLE orders ADD COLUMN x int', false],
    ['drop', 'ALTER TABLE orders ALTER COLUMN total TYPE int', false],
    // `rewrite`: forms that rewrite the table.
    ['rewrite', 'ALTER TABLE orders ALTER COLUMN total TYPE int', true],
    ['rewrite', 'ALTER TABLE orders ALTER COLUMN total SET DATA TYPE numeric(4,0) USING 0', true],
    ['rewrite', 'ALTER TABLE orders SET UNLOGGED', true],
    ['rewrite', 'ALTER TABLE orders SET ACCESS METHOD heap', true],
    ['rewrite', 'CLUSTER orders USING orders_pkey', true],
    ['rewrite', 'VACUUM FULL orders', true],
    ['rewrite', 'VACUUM orders', false],
    ['rewrite', 'ALTER SEQUENCE s RESTART', true],
    ['rewrite', 'ALTER SEQUENCE s RESTART WITH 10', true],
    ['rewrite', 'ALTER SEQUENCE s INCREMENT BY 2', false],
    ['rewrite', 'ALTER TABLE orders ADD COLUMN x int', false],
    // `destructive`: every removal, rewrite, truncate and unbounded write.
    ['destructive', 'ALTER TABLE orders DROP COLUMN total', true],
    ['destructive', 'ALTER TABLE orders ALTER COLUMN total TYPE int', true],
    ['destructive', 'TRUNCATE orders', true],
    ['destructive', 'DELETE FROM orders WHERE true', true],
    ['destructive', "UPDATE orders SET status = 'x' WHERE 1 = 1", true],
    ['destructive', 'DELETE FROM orders WHERE id = 5', false],
    ['destructive', 'ALTER TABLE orders ADD COLUMN x int', false],
    ['destructive', 'CREATE TABLE t2 (a int)', false],
    // Unbounded writes, by effect.
    ['delete_without_where', 'DELETE FROM orders WHERE true', true],
    ['delete_without_where', 'DELETE FROM orders WHERE 1 = 1', true],
    ['delete_without_where', 'DELETE FROM orders WHERE id IS NOT NULL', true],
    ['delete_without_where', 'DELETE FROM orders WHERE id IN (SELECT id FROM orders)', true],
    ['delete_without_where', 'DELETE FROM orders WHERE id = 5 OR true', true],
    ['delete_without_where', 'DELETE FROM orders WHERE NOT false', true],
    ['delete_without_where', 'MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN DELETE', true],
    ['delete_without_where', 'MERGE INTO orders o USING orders s ON o.id = s.id WHEN MATCHED THEN DELETE', true],
    ['delete_without_where', 'WITH d AS (DELETE FROM orders WHERE true RETURNING id) SELECT count(*) FROM d', true],
    ['delete_without_where', 'EXPLAIN ANALYZE DELETE FROM orders WHERE 1 = 1', true],
    ['delete_without_where', 'DELETE FROM orders WHERE id = 5', false],
    ['delete_without_where', 'EXPLAIN DELETE FROM orders WHERE true', false],
    ['update_without_where', "UPDATE orders SET status = 'x' WHERE true", true],
    ['update_without_where', "MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN UPDATE SET status = 'x'", true],
    ['update_without_where', "UPDATE orders SET status = 'x' WHERE id = 5", false],
    // MERGE counts as the writes its actions perform.
    ['delete', 'MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = s.id WHEN MATCHED THEN DELETE', true],
    ['update', "MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = s.id WHEN MATCHED THEN UPDATE SET status = 'x'", true],
    ['delete', "MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = s.id WHEN MATCHED THEN UPDATE SET status = 'x'", false],
  ];
  for (const [trigger, sql, expected] of table) {
    test(`${trigger}: ${sql} → ${expected ? 'held' : 'runs'}`, () => assert.equal(held([trigger], sql), expected));
  }
});

describe('max_rows (blast radius)', () => {
  const rules = compileReviews(
    reviewsSchema.parse({
      rules: [
        { name: 'radius', when: ['delete', 'update'], max_rows: 100, approvers: { groups: ['dba'] } },
        { name: 'drops', when: ['drop'], approvers: { groups: ['dba'] } },
      ],
    }),
  );
  const del = deleteSome('public.orders');
  test('without an estimate a rule with max_rows is a candidate (it may hold)', () => {
    assert.equal(reviewRuleFor(rules, agent, [del])?.name, 'radius');
  });
  test('over the limit: held', () => {
    assert.equal(reviewRuleFor(rules, agent, [del], () => 101)?.name, 'radius');
  });
  test('at or under the limit: runs', () => {
    assert.equal(reviewRuleFor(rules, agent, [del], () => 100), null);
    assert.equal(reviewRuleFor(rules, agent, [del], () => 0), null);
  });
  test('a statement that could not be estimated counts as over the limit', () => {
    assert.equal(reviewRuleFor(rules, agent, [del], () => null)?.name, 'radius');
  });
  test('a later rule still applies when the estimate is under the limit', () => {
    assert.equal(reviewRuleFor(rules, agent, [del, dropTable('public.orders')], () => 1)?.name, 'drops');
  });
  test('a statement the triggers do not name is not estimated', () => {
    assert.deepEqual(rowsNeeded(rules, agent, [select('public.orders'), dropTable('public.orders')]), []);
    assert.deepEqual(rowsNeeded(rules, agent, [select('public.orders'), del]), [del]);
  });
  test('the statement EXPLAIN ANALYZE runs is the one estimated', () => {
    const explain = special('explain', 'write', ['explain_analyze'], { inner: del });
    assert.deepEqual(rowsNeeded(rules, agent, [explain]), [del]);
  });
  test('max_rows must be a whole number, not negative', () => {
    assert.equal(reviewsSchema.safeParse({ rules: [{ name: 'r', when: ['delete'], max_rows: -1, approvers: { groups: ['dba'] } }] }).success, false);
    assert.equal(reviewsSchema.safeParse({ rules: [{ name: 'r', when: ['delete'], max_rows: 1.5, approvers: { groups: ['dba'] } }] }).success, false);
  });
});
