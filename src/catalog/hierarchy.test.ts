import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileMasking, maskingFor } from '../masking/index.ts';
import { maskingSchema } from '../masking/schema.ts';
import { identity } from '../masking/test-builders.ts';
import { relativesOf, withHierarchy } from './hierarchy.ts';
import { snapshotFrom } from './load.ts';
import { formerNamesOf } from './renames.ts';
import type { CatalogRelation } from './types.ts';

const col = (name: string, attnum: number) => ({ name, attnum, typeOid: 25, typeName: 'text' });
const rel = (oid: number, name: string, cols: string[], parents?: number[], kind: CatalogRelation['kind'] = 'table'): CatalogRelation => ({
  oid,
  schema: 'public',
  name,
  kind,
  columns: cols.map((c, i) => col(c, i + 1)),
  ...(parents && { parents }),
});

// person_base ← customers ← customers_2024 (a partition of customers_parts, itself under customers)
const snapshot = snapshotFrom(
  {
    relations: [
      rel(100, 'person_base', ['id', 'ssn', 'email']),
      rel(101, 'customers', ['id', 'ssn', 'email', 'name'], [100]),
      rel(102, 'customers_archive', ['id', 'ssn', 'email', 'name', 'archived_at'], [101]),
      rel(103, 'customers_parts', ['id', 'ssn', 'email', 'name'], [101], 'partitioned_table'),
      rel(104, 'customers_2024', ['id', 'ssn', 'email', 'name'], [103]),
      rel(105, 'orders', ['id', 'ssn']),
    ],
    functions: [],
    operators: [],
    casts: [],
    schemas: ['public'],
    currentUser: 'app',
    defaultSearchPath: ['public'],
  },
  1,
);

describe('inheritance and partitions', () => {
  it('finds every ancestor and descendant, transitively, and nothing else', () => {
    const cases: [number, number[]][] = [
      [101, [100, 102, 103, 104]],
      [104, [100, 101, 103]],
      [100, [101, 102, 103, 104]],
      [105, []],
    ];
    for (const [oid, want] of cases) assert.deepEqual(relativesOf(snapshot, oid).sort(), want, `relatives of ${oid}`);
  });

  const masking = compileMasking(maskingSchema.parse({ rules: [{ column: 'public.customers.ssn', with: 'redact' }] }) as never);
  const scope = maskingFor(masking, identity('analyst'), withHierarchy(formerNamesOf(() => snapshot), () => snapshot));
  const cases: [string, string, string, boolean][] = [
    ['the rule\'s own column', 'customers', 'ssn', true],
    ['an inheritance child\'s column of that name', 'customers_archive', 'ssn', true],
    ['a partition\'s column, two levels down', 'customers_2024', 'ssn', true],
    ['a parent the table inherits from', 'person_base', 'ssn', true],
    ['another column of a relative', 'customers_archive', 'archived_at', false],
    ['an unrelated table with a column of that name', 'orders', 'ssn', false],
  ];
  for (const [what, table, column, masked] of cases) {
    it(`a rule governs ${what}: ${masked}`, () => assert.equal(scope.ruleFor('public', table, column) !== undefined, masked));
  }
  it('a relative of a relation with a masked column is sensitive', () => {
    assert.equal(scope.relationSensitive('public', 'customers_2024'), true);
    assert.equal(scope.relationSensitive('public', 'orders'), false);
  });
});
