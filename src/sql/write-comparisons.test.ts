/**
 * A write compares its value with stored ones where a unique index, an exclusion constraint or a
 * foreign key covers the column it sets: such a write is an equality filter (`KEY_CHECK`) of every
 * column of that key, or of the referenced columns. Each case: a statement, and the columns it is
 * recorded as comparing that way.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { contentsOf, snapshotFrom } from '../catalog/index.ts';
import { testCatalog } from './fixture.ts';
import { analyse, KEY_CHECK, loadParser } from './index.ts';

before(async () => {
  await loadParser();
});

/** The fixture, with a unique key on customers (ssn), one on (name, phone), and a foreign key sales.orders (region) → customers (ssn). */
function catalogWithKeys() {
  const contents = contentsOf(testCatalog());
  const customers = contents.relations.find((r) => r.schema === 'public' && r.name === 'customers')!;
  const attnum = (name: string) => customers.columns.find((c) => c.name === name)!.attnum;
  const orders = contents.relations.find((r) => r.schema === 'sales' && r.name === 'orders')!;
  const region = orders.columns.find((c) => c.name === 'region')!.attnum;
  const relations = contents.relations.map((r) =>
    r === customers ? { ...r, uniqueKeys: [[attnum('id')], [attnum('ssn')], [attnum('name'), attnum('phone')]] } : r === orders ? { ...r, foreignKeys: [{ columns: [region], references: customers.oid, refColumns: [attnum('ssn')] }] } : r,
  );
  return snapshotFrom({ ...contents, relations }, 2);
}

const catalog = catalogWithKeys();

function compared(sql: string): string[] {
  const [a] = analyse(sql, { catalog, searchPath: ['public'] });
  return a.columnUses
    .filter((u) => u.operator === KEY_CHECK)
    .map((u) => `${u.relation.schema}.${u.relation.name}.${u.column}`)
    .sort();
}

const CASES: [string, string, string[]][] = [
  ['an INSERT of the key column', "insert into customers (id, ssn) values (1, 'x')", ['public.customers.id', 'public.customers.ssn']],
  ['an INSERT without a column list sets every column', "insert into customers values (1, 'n', 'e', 'p', 's')", ['public.customers.id', 'public.customers.name', 'public.customers.phone', 'public.customers.ssn']],
  ['ON CONFLICT … DO UPDATE', "insert into customers (id, ssn) values (1, 'x') on conflict (ssn) do update set name = excluded.name returning id", ['public.customers.id', 'public.customers.name', 'public.customers.phone', 'public.customers.ssn']],
  ['an UPDATE of the key column', "update customers set ssn = 'x' where id = 1", ['public.customers.ssn']],
  ['an UPDATE of one column of a two-column key compares both', "update customers set name = 'x' where id = 1", ['public.customers.name', 'public.customers.phone']],
  ['an UPDATE of no key column compares nothing', "update customers set email = 'x' where id = 1", []],
  ['MERGE', "merge into customers c using (values (1)) v(id) on c.id = v.id when matched then update set ssn = 'x'", ['public.customers.ssn']],
  ['COPY FROM', 'copy customers (ssn) from stdin', ['public.customers.ssn']],
  ['a write of a referencing column compares the referenced one', "insert into sales.orders (id, region) values (1, 'x')", ['public.customers.ssn']],
  ['a write of another column of the referencing table compares nothing', 'update sales.orders set amount = 1 where id = 1', []],
  ['a DELETE compares nothing', 'delete from customers where id = 1', []],
  ['a read compares nothing', 'select ssn from customers', []],
];

describe('writes compared with stored values by keys', () => {
  for (const [name, sql, expected] of CASES) test(name, () => assert.deepEqual(compared(sql), expected, sql));
});
