/**
 * Compact text forms of analysis parts, so the table-driven tests read like the verdicts they
 * assert: `select public.customers [email,name]`, `filter public.customers.ssn =`,
 * `pg_catalog.set_config(role,admin,false)`, `create table public.t`, `set_role role=admin`.
 */
import type { ColumnUse, DdlTarget, FunctionCall, SettingChange, TableAccess } from './types.ts';

export function fmtTable(t: TableAccess): string {
  const r = `${t.relation.resolved ? '' : '?'}${t.relation.schema}.${t.relation.name}`;
  const cols = [...t.columns].sort();
  if (t.allColumns) cols.push('*');
  return `${t.op} ${r} [${cols.join(',')}]`;
}

export function fmtUse(u: ColumnUse): string {
  return `${u.use} ${u.relation.schema}.${u.relation.name}.${u.column}${u.operator !== undefined ? ` ${u.operator}` : ''}`;
}

export function fmtFunction(f: FunctionCall): string {
  const args = f.constArgs ? `(${f.constArgs.map((a) => (a === null ? '_' : a)).join(',')})` : '';
  return `${f.resolved ? '' : '?'}${f.schema}.${f.name}${args}`;
}

export function fmtDdl(d: DdlTarget): string {
  const name = [d.schema, d.name].filter((x) => x !== undefined).join('.');
  const on = d.on ? ` on ${d.on.schema}.${d.on.name}` : '';
  return `${d.action} ${d.objectType}${name ? ` ${name}` : ''}${on}`;
}

export function fmtSetting(s: SettingChange): string {
  return `${s.action}${s.name !== null ? ` ${s.name}` : ''}${s.value !== null ? `=${s.value}` : ''}`;
}
