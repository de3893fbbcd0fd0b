/**
 * Review rules match what a statement does, not how it is written: each case runs through the
 * session's gate with the demo's migrator rule (`drop`, `truncate`, `delete_without_where`,
 * `update_without_where`, `rewrite`) and must be held for review, or run without one.
 */
import { allow, deny, type Family } from './harness.ts';

export const HELD = /held for review under rule "migrator-destructive"/;

export const reviewFamilies: Family[] = [
  {
    family: 'a WHERE that holds for every row is no WHERE',
    cases: [
      deny('migrator', 'DELETE … WHERE true deletes every row', 'delete from orders where true', HELD),
      deny('migrator', 'DELETE … WHERE 1 = 1 deletes every row', 'delete from orders where 1 = 1', HELD),
      deny('migrator', 'a comparison of constants is folded', "delete from orders where 'a' = 'a'", HELD),
      deny('migrator', 'constant arithmetic is folded', 'delete from orders where 1 + 1 = 2', HELD),
      deny('migrator', 'NOT false is true', 'delete from orders where not false', HELD),
      deny('migrator', 'NOT NOT true is true', 'delete from orders where not not true', HELD),
      deny('migrator', 'a literal read as a boolean is true', "delete from orders where 'yes'", HELD),
      deny('migrator', 'an OR with a true branch is true', 'delete from orders where id = 5 or true', HELD),
      deny('migrator', 'an OR with a folded-true branch is true', 'delete from orders where id = 5 or 2 > 1', HELD),
      deny('migrator', 'IS NOT NULL of a NOT NULL column is true', 'delete from orders where id is not null', HELD),
      deny('migrator', 'x = x on a NOT NULL column is true', 'delete from orders where id = id', HELD),
      deny('migrator', 'IS NOT DISTINCT FROM itself is true on any column', 'delete from orders where status is not distinct from status', HELD),
      deny('migrator', 'IS NULL OR IS NOT NULL is true', 'delete from orders where status is null or status is not null', HELD),
      deny('migrator', 'a never-NULL predicate OR its negation is true', 'delete from orders where id = 3 or not (id = 3)', HELD),
      deny('migrator', 'IN over the same table is true', 'delete from orders where id in (select id from orders)', HELD),
      deny('migrator', '= ANY over the same table is true', 'delete from orders where id = any (select o.id from public.orders o)', HELD),
      deny('migrator', 'EXISTS of the same row is true', 'delete from orders where exists (select 1 from orders o where o.id = orders.id)', HELD),
      deny('migrator', 'USING the table itself joined on its key reaches every row', 'delete from orders using orders o where orders.id = o.id', HELD),
      deny('migrator', 'UPDATE … WHERE 1 = 1 updates every row', "update orders set status = 'x' where 1 = 1", HELD),
      deny('migrator', 'UPDATE … FROM the table itself on its key updates every row', "update orders set status = 'x' from orders o where orders.id = o.id", HELD),
      deny('migrator', 'a tautology in a data-modifying CTE is held', 'with d as (delete from orders where true returning id) select count(*) from d', HELD),
      deny('migrator', 'EXPLAIN ANALYZE runs its always-true DELETE', 'explain analyze delete from orders where 1 = 1', HELD),
      deny('migrator', 'a tautology in a prepared DELETE is held at PREPARE', 'prepare p as delete from orders where true', HELD),
      deny('migrator', 'a tautology in a multi-statement string holds the string', 'select 1; delete from sales.orders where 1 = 1', HELD),
    ],
  },
  {
    family: 'a WHERE that does not read the row selects every row or none',
    cases: [
      deny('migrator', 'a session test selects all or none', "delete from orders where current_user = 'migrator'", HELD),
      deny('migrator', 'a parameter alone can be true', 'delete from orders where $1', HELD),
      deny('migrator', 'an OR with a parameter branch can be true', 'delete from orders where id = 5 or $1', HELD),
      deny('migrator', 'EXISTS over another table selects all or none', 'delete from orders where exists (select 1 from sales.orders)', HELD),
      deny('migrator', 'a function of constants is all or none', "delete from orders where lower('A') = 'a'", HELD),
      deny('migrator', 'a USING table filtered on its own is not a selection', 'delete from orders using sales.orders s where s.id = 1', HELD),
      deny('migrator', 'a scalar subquery not reading the row is all or none', 'delete from orders where (select count(*) from sales.orders) > 0', HELD),
    ],
  },
  {
    family: 'MERGE is the writes its actions perform',
    cases: [
      deny('migrator', 'MERGE … ON true THEN DELETE deletes every matched row', 'merge into orders o using sales.orders s on true when matched then delete', HELD),
      deny('migrator', 'MERGE with the table itself on its key THEN DELETE deletes every row', 'merge into orders o using orders s on o.id = s.id when matched then delete', HELD),
      deny('migrator', 'MERGE on a constant-true condition THEN UPDATE updates every row', "merge into orders o using (select 1 as k) s on 1 = 1 when matched then update set status = 'x'", HELD),
      deny('migrator', 'MERGE WHEN NOT MATCHED BY SOURCE THEN DELETE deletes what the source does not name', 'merge into orders o using (select 1 as id) s on o.id = s.id when not matched by source then delete', HELD),
      allow('migrator', 'MERGE on the key from a one-row source is bounded', 'merge into orders o using (select 1 as id) s on o.id = s.id when matched then delete'),
      allow('migrator', 'MERGE ON true with a selective action condition is bounded', 'merge into orders o using sales.orders s on true when matched and o.id = s.id then delete'),
      allow('migrator', 'MERGE that only inserts is no delete', "merge into orders o using sales.orders s on o.id = s.id when not matched then insert (status) values ('x')"),
    ],
  },
  {
    family: 'every removal is a drop',
    cases: [
      deny('migrator', 'DROP TABLE is a drop', 'drop table sales.orders', HELD),
      deny('migrator', 'ALTER TABLE … DROP COLUMN is a drop', 'alter table sales.orders drop column region', HELD),
      deny('migrator', 'a DROP COLUMN among other subcommands is a drop', 'alter table sales.orders add column note text, drop column region', HELD),
      deny('migrator', 'DROP CONSTRAINT is a drop', 'alter table sales.orders drop constraint orders_pkey', HELD),
      deny('migrator', 'DROP DEFAULT is a drop', 'alter table sales.orders alter column region drop default', HELD),
      deny('migrator', 'DROP NOT NULL is a drop', 'alter table sales.orders alter column region drop not null', HELD),
      deny('migrator', 'DROP IDENTITY is a drop', 'alter table sales.orders alter column id drop identity', HELD),
      deny('migrator', 'DROP EXPRESSION is a drop', 'alter table sales.orders alter column amount drop expression', HELD),
      deny('migrator', 'NO INHERIT is a drop', 'alter table sales.orders no inherit sales.base', HELD),
      deny('migrator', 'DROP INDEX is a drop', 'drop index sales.orders_region_idx', HELD),
      deny('migrator', 'DROP … CASCADE is a drop', 'drop table sales.orders cascade', HELD),
      deny('migrator', 'DROP VIEW IF EXISTS is a drop', 'drop view if exists sales.v', HELD),
      allow('migrator', 'ADD COLUMN removes nothing', 'alter table sales.orders add column note text'),
      allow('migrator', 'SET DEFAULT removes nothing', 'alter table sales.orders alter column region set default $$eu$$'),
    ],
  },
  {
    family: 'a table rewrite is reviewed',
    cases: [
      deny('migrator', 'ALTER COLUMN TYPE rewrites the table', 'alter table sales.orders alter column amount type int', HELD),
      deny('migrator', 'SET DATA TYPE … USING rewrites the values', 'alter table sales.orders alter column amount set data type numeric(4,0) using 0', HELD),
      deny('migrator', 'SET UNLOGGED rewrites the table', 'alter table sales.orders set unlogged', HELD),
      deny('migrator', 'SET ACCESS METHOD rewrites the table', 'alter table sales.orders set access method heap', HELD),
      deny('migrator', 'CLUSTER rewrites the table', 'cluster sales.orders using orders_pkey', HELD),
    ],
  },
  {
    family: 'a WHERE that reads the row bounds the write',
    cases: [
      allow('migrator', 'an equality on the key is bounded', 'delete from orders where id = 5'),
      allow('migrator', 'a range is bounded (its size is the blast-radius rule’s business)', 'delete from orders where id > 10'),
      allow('migrator', 'a parameter compared to the key is bounded', 'delete from orders where id = $1'),
      allow('migrator', 'WHERE false deletes nothing', 'delete from orders where false'),
      allow('migrator', 'IS NOT NULL of a nullable column is bounded', 'delete from orders where status is not null'),
      allow('migrator', 'IN over a filtered copy of the table is bounded', 'delete from orders where id in (select id from orders where id < 10)'),
      allow('migrator', 'IN over ONLY the table is not the whole table', 'delete from orders where id in (select id from only orders)'),
      allow('migrator', 'a join to another table is bounded', 'delete from orders using sales.orders s where s.id = orders.id'),
      allow('migrator', 'a correlated EXISTS on another table is bounded', 'delete from orders where exists (select 1 from sales.orders s where s.id = orders.customer_id)'),
      allow('migrator', 'an UPDATE on the key is bounded', "update orders set status = 'x' where id = 5"),
      allow('migrator', 'plain EXPLAIN runs nothing', 'explain delete from orders where true'),
    ],
  },
];
