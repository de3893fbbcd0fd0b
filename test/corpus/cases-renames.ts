/**
 * Renames of governed objects. Denials and column lists are written with names; renaming or
 * moving what they name through the gateway would leave them naming nothing, so it is refused for
 * every identity, including `dba`, which may run any DDL and has no denial of its own.
 */
import { allow, deny, READ_ONLY, type Family } from './harness.ts';

const GOVERNED = /governs it, and rules follow names/;

export const renameFamilies: Family[] = [
  {
    family: 'renames of governed objects are refused',
    cases: [
      deny('dba', 'renaming a denied column is refused', 'alter table customers rename column ssn to x', /may not rename column public\.customers\.ssn: deny rule public\.customers\.ssn of policy "analysts" governs it/),
      deny('dba', 'RENAME without the COLUMN keyword renames a column', 'alter table public.customers rename ssn to x', /rename column public\.customers\.ssn/),
      deny('dba', 'quoted names and IF EXISTS ONLY name the same column', 'alter table if exists only "customers" rename column "ssn" to tax_id', /rename column public\.customers\.ssn/),
      deny('dba', 'renaming a read-denied column is refused', 'alter table customers rename column email to mail', /rename column public\.customers\.email/),
      deny('dba', 'renaming any column of a table under a column list is refused', 'alter table orders rename column total to status2', /column list on public\.orders/),
      deny('dba', 'renaming a listed column of a table under a column list is refused', 'alter table customers rename column phone to mobile', GOVERNED),
      deny('dba', 'renaming a table with a denied column is refused', 'alter table customers rename to clients', /may not rename table public\.customers/),
      deny('dba', 'renaming a denied table is refused', 'alter table public.audit rename to audit_old', /deny rule public\.audit of policy "migrations"/),
      deny('dba', 'renaming a table denied by a wildcard is refused', 'alter table app.settings rename to prefs', /deny rule app\.\* of policy "support"/),
      deny('dba', 'renaming a column of a table denied by a wildcard is refused', 'alter table app.settings rename column value to v', GOVERNED),
      deny('dba', 'SET SCHEMA of a governed table is a rename', 'alter table customers set schema sales', /may not move table public\.customers to schema sales/),
      deny('dba', 'SET SCHEMA of a denied table is a rename', 'alter table sales.targets set schema public', /move table sales\.targets/),
      deny('dba', 'renaming a schema that holds a governed table is refused', 'alter schema public rename to old_public', /may not rename schema public/),
      deny('dba', 'renaming a schema a wildcard rule names is refused', 'alter schema app rename to application', /rename schema app/),
      deny('dba', 'renaming a schema holding a denied table is refused', 'alter schema sales rename to s2', /rename schema sales: deny rule sales\.targets/),
      deny('dba', 'a rename after other statements refuses the whole string', 'select 1; alter table customers rename column ssn to x', /rename column public\.customers\.ssn/),
      deny('dba', 'a rename inside a transaction block is refused', 'begin; alter table customers rename to c2; commit', /rename table public\.customers/),
      deny('dba', 'renaming a column no rule names, in a table a column list restricts, is refused', 'alter table customers rename column name to full_name', GOVERNED),
      deny('migrator', 'an identity without DDL there is refused by its policy first', 'alter table customers rename column ssn to x', /may not rename column public\.customers\.ssn/),
      deny('analyst', 'a read-only identity is refused as a write', 'alter table customers rename column ssn to x', READ_ONLY),
      allow('dba', 'renaming a column no rule governs is allowed', 'alter table sales.orders rename column region to area'),
      allow('dba', 'renaming a table no rule governs is allowed', 'alter table sales.orders rename to orders_archive'),
      allow('dba', 'SET SCHEMA of a table no rule governs is allowed', 'alter table sales.orders set schema public'),
      allow('dba', 'renaming a sequence is allowed', 'alter sequence order_seq rename to order_ids'),
      allow('dba', 'renaming a view no rule names is allowed (its reads are checked through its definition)', 'alter view customer_emails rename to emails'),
      allow('dba', 'adding a column to a governed table is not a rename', 'alter table customers add column note text'),
      allow('dba', 'renaming a constraint of a governed table is allowed', 'alter table customers rename constraint customers_pkey to customers_pk'),
      allow('migrator', 'renaming a column in the DDL schema is allowed', 'alter table sales.orders rename column amount to total'),
    ],
  },
];
