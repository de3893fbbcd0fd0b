/**
 * Rules follow renamed objects: the catalog's record of former names (catalog/renames.ts), the
 * masking scope and policy decisions that read it, and the refusal of renames of governed objects
 * through the gateway, on statements analysed by the real parser against the fixture catalog.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { formerNamesOf, trackRenames } from '../catalog/index.ts';
import type { CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';
import { compileMasking, maskingFor, maskingSchema } from '../masking/index.ts';
import { compilePolicies, decide, policySchema, scopeFor } from '../policy/index.ts';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { governedRenameRefusal, governedRules, unboundRules } from './governed-renames.ts';

const who = { issuer: 'https://idp', issuerName: 'idp', subject: 'analyst', groups: ['analysts'] } as never;

/** A copy of the snapshot with one relation changed (as a reload after DDL would see it). */
function changed(s: CatalogSnapshot, schema: string, name: string, edit: (r: CatalogRelation) => CatalogRelation): CatalogSnapshot {
  const relations = new Map<string, CatalogRelation>();
  const relationsByOid = new Map<number, CatalogRelation>();
  for (const r of s.relations.values()) {
    const next = r.schema === schema && r.name === name ? edit({ ...r, columns: r.columns.map((c) => ({ ...c })) }) : r;
    relations.set(`${next.schema}.${next.name}`, next);
    relationsByOid.set(next.oid, next);
  }
  return { ...s, version: s.version + 1, relations, relationsByOid, schemas: new Set([...s.schemas, ...[...relations.values()].map((r) => r.schema)]) };
}

/** Reload: the new snapshot carries the former names, as CatalogService does. */
function reload(prev: CatalogSnapshot, next: CatalogSnapshot): CatalogSnapshot {
  next.formerNames = trackRenames(prev, next);
  return next;
}

const renameColumn = (from: string, to: string) => (r: CatalogRelation) => ({ ...r, columns: r.columns.map((c) => (c.name === from ? { ...c, name: to } : c)) });

describe('the catalog records the names objects had', () => {
  const base = testCatalog();
  base.formerNames = trackRenames(null, base);

  const cases: [string, (s: CatalogSnapshot) => CatalogSnapshot, [string, string, string], string[][]][] = [
    ['RENAME COLUMN', (s) => changed(s, 'public', 'customers', renameColumn('ssn', 'x')), ['public', 'customers', 'x'], [['public', 'customers', 'ssn']]],
    ['RENAME TO', (s) => changed(s, 'public', 'customers', (r) => ({ ...r, name: 'c2' })), ['public', 'c2', 'ssn'], [['public', 'customers', 'ssn']]],
    ['SET SCHEMA', (s) => changed(s, 'public', 'customers', (r) => ({ ...r, schema: 'app2' })), ['app2', 'customers', 'ssn'], [['public', 'customers', 'ssn']]],
  ];
  for (const [what, step, now, want] of cases) {
    it(`${what}: the column keeps its former names`, () => {
      const next = reload(base, step(base));
      assert.deepEqual(formerNamesOf(() => next).column(...now), want);
    });
  }

  it('two renames in a row: every former name is kept', () => {
    const first = reload(base, changed(base, 'public', 'customers', renameColumn('ssn', 'a')));
    const second = reload(first, changed(first, 'public', 'customers', renameColumn('a', 'b')));
    assert.deepEqual(formerNamesOf(() => second).column('public', 'customers', 'b'), [['public', 'customers', 'ssn'], ['public', 'customers', 'a']]);
  });

  it('names survive later reloads that change nothing, and go with the object', () => {
    const renamed = reload(base, changed(base, 'public', 'customers', renameColumn('ssn', 'x')));
    const again = reload(renamed, { ...renamed, version: renamed.version + 1, formerNames: undefined });
    assert.deepEqual(formerNamesOf(() => again).column('public', 'customers', 'x'), [['public', 'customers', 'ssn']]);
    const dropped = changed(again, 'public', 'customers', (r) => ({ ...r, oid: 99_999 }));
    assert.deepEqual(formerNamesOf(() => reload(again, dropped)).column('public', 'customers', 'x'), [], 'a new OID is a new object');
  });

  it('an OID reused by a relation of another kind is not a rename', () => {
    const reused = changed(base, 'public', 'customers', (r) => ({ ...r, name: 'other', kind: 'view' }));
    assert.deepEqual(formerNamesOf(() => reload(base, reused)).relation('public', 'other'), []);
  });
});

describe('masking and denials follow renames', () => {
  const base = testCatalog();
  const renamed = reload(base, changed(base, 'public', 'customers', renameColumn('ssn', 'x')));
  const moved = reload(base, changed(base, 'public', 'customers', (r) => ({ ...r, schema: 'archive', name: 'people' })));
  const masking = compileMasking(maskingSchema.parse({ rules: [{ column: 'public.customers.ssn', with: 'redact' }] }));

  it('a masking rule governs the renamed column under its new name', () => {
    const scope = maskingFor(masking, who, formerNamesOf(() => renamed));
    assert.equal(scope.ruleFor('public', 'customers', 'x')?.column, 'public.customers.ssn');
    assert.equal(scope.ruleFor('public', 'customers', 'name'), undefined);
    const movedScope = maskingFor(masking, who, formerNamesOf(() => moved));
    assert.equal(movedScope.ruleFor('archive', 'people', 'ssn')?.column, 'public.customers.ssn');
    assert.equal(movedScope.relationSensitive('archive', 'people'), true);
    assert.equal(maskingFor(masking, who).ruleFor('public', 'customers', 'x'), undefined, 'without the record the name alone decides');
  });

  const policies = compilePolicies([
    policySchema.parse({
      name: 'analysts',
      match: { groups: ['analysts'] },
      allow: [{ tables: ['public.customers', 'archive.people'], operations: ['select'] }, { tables: ['public.orders'], operations: ['select'], columns: ['id', 'status'] }],
      deny: [{ columns: ['public.customers.ssn'] }, { tables: ['public.audit'] }],
    }),
  ]);
  before(loadParser);
  const decideOn = (snapshot: CatalogSnapshot, sql: string) => {
    const s = scopeFor(policies, who, 'app');
    assert.ok(s);
    return decide(s, analyse(sql, { catalog: snapshot, searchPath: ['public'] }), formerNamesOf(() => snapshot));
  };

  it('a column denial applies to the renamed column', () => {
    const d = decideOn(renamed, 'select x from customers');
    assert.equal(d.verdict, 'deny');
    assert.match(d.verdict === 'deny' ? d.message : '', /column public\.customers\.x \(renamed from public\.customers\.ssn\)/);
    assert.equal(decideOn(renamed, 'select id, name from customers').verdict, 'allow');
  });

  it('a column denial applies after the table moved to another schema and name', () => {
    assert.equal(decideOn(moved, 'select ssn from archive.people').verdict, 'deny');
    assert.equal(decideOn(moved, 'select id from archive.people').verdict, 'allow');
  });

  it('a table denial applies to the renamed table', () => {
    const auditRenamed = reload(base, changed(base, 'public', 'audit', (r) => ({ ...r, name: 'log' })));
    assert.equal(decideOn(auditRenamed, 'select id from log').verdict, 'deny');
  });

  it('a column renamed onto an allowed name stays refused by the column list', () => {
    const swapped = reload(base, changed(base, 'public', 'orders', (r) => ({ ...r, columns: r.columns.map((c) => (c.name === 'status' ? { ...c, name: 'old_status' } : c.name === 'total' ? { ...c, name: 'status' } : c)) })));
    assert.equal(decideOn(swapped, 'select status from orders').verdict, 'deny');
    assert.equal(decideOn(swapped, 'select id from orders').verdict, 'allow');
  });
});

describe('renames of governed objects through the gateway are refused', () => {
  const catalog = testCatalog();
  const masking = compileMasking(maskingSchema.parse({ rules: [{ column: 'public.customers.ssn', with: 'redact' }, { column: '*.*.api_key', with: 'null' }] }));
  const policies = compilePolicies([
    policySchema.parse({ name: 'ops', match: { groups: ['ops'] }, allow: [{ tables: ['public.orders'], operations: ['select'], columns: ['id'] }], deny: [{ columns: ['sales.orders.amount'] }, { tables: ['public.audit'] }] }),
  ]);
  const refusal = (sql: string) =>
    governedRenameRefusal(analyse(sql, { catalog, searchPath: ['public'] }), 'migrator', () => governedRules(masking, policies), catalog, formerNamesOf(() => catalog));
  before(loadParser);

  const refused: [string, RegExp][] = [
    ['ALTER TABLE customers RENAME COLUMN ssn TO x', /may not rename column public\.customers\.ssn: masking rule public\.customers\.ssn governs it/],
    ['alter table public.customers rename ssn to x', /masking rule public\.customers\.ssn/],
    ['ALTER TABLE IF EXISTS ONLY "customers" RENAME COLUMN "ssn" TO tax_id', /rename column/],
    ['ALTER TABLE customers RENAME TO clients', /rename table public\.customers/],
    ['ALTER TABLE customers SET SCHEMA app', /move table public\.customers to schema app/],
    ['ALTER SCHEMA public RENAME TO old_public', /rename schema public/],
    ['ALTER TABLE app.customers RENAME COLUMN api_key TO k', /masking rule \*\.\*\.api_key/],
    ['ALTER SCHEMA app RENAME TO application', /rename schema app: masking rule \*\.\*\.api_key/],
    ['ALTER TABLE sales.orders RENAME amount TO amt', /deny rule sales\.orders\.amount of policy "ops"/],
    ['ALTER TABLE audit RENAME TO audit_old', /deny rule public\.audit of policy "ops"/],
    ['ALTER TABLE orders RENAME COLUMN total TO id2', /column list on public\.orders/],
    ['ALTER TABLE orders RENAME TO orders_2', /column list on public\.orders/],
    ['ALTER SCHEMA sales RENAME TO s2', /rename schema sales: deny rule sales\.orders\.amount/],
    ['SELECT 1; ALTER TABLE customers RENAME COLUMN ssn TO x', /rename column public\.customers\.ssn/],
  ];
  for (const [sql, want] of refused) {
    it(sql, () => {
      const r = refusal(sql);
      assert.ok(r, 'refused');
      assert.match(r.message, want);
      assert.match(r.hint, /directly on the database and update the rule/);
    });
  }

  const allowed = [
    'ALTER TABLE customers RENAME COLUMN name TO full_name',
    'ALTER TABLE sales.targets RENAME TO goals',
    'ALTER TABLE customers ADD COLUMN note text',
    'ALTER TABLE app.settings SET SCHEMA public',
  ];
  for (const sql of allowed) it(`not governed: ${sql}`, () => assert.equal(refusal(sql), null));

  it('a governed column renamed earlier (outside the gateway) is still governed under its new name', () => {
    const renamed = reload(catalog, changed(catalog, 'public', 'customers', renameColumn('ssn', 'x')));
    const r = governedRenameRefusal(analyse('ALTER TABLE customers RENAME COLUMN x TO y', { catalog: renamed, searchPath: ['public'] }), 'migrator', () => governedRules(masking, policies), renamed, formerNamesOf(() => renamed));
    assert.match(r?.message ?? '', /masking rule public\.customers\.ssn/);
  });

  it('rules naming what does not exist are reported', () => {
    const renamed = changed(catalog, 'public', 'customers', renameColumn('ssn', 'x'));
    const problems = unboundRules(governedRules(masking, policies), renamed);
    assert.deepEqual(problems, ['masking rule public.customers.ssn: public.customers has no column ssn']);
    assert.deepEqual(unboundRules(governedRules(masking, policies), catalog), []);
  });
});
