/**
 * Constant folding for the unbounded-write check (unbounded.ts): the value of a constant
 * expression as PostgreSQL would compute it, for the few forms that matter there (literals,
 * casts to boolean / numbers / text, + - * of numbers), and comparisons of such values. Pure.
 * Anything else is "not a constant" (undefined), never a guess.
 */
import { names, type Node } from './ast.ts';


export type Value = number | string | boolean;

/** A constant's value (null: SQL NULL; undefined: not a constant the analysis folds). */
export function constant(e: Node | undefined): Value | null | undefined {
  if (!e) return undefined;
  const c = e.A_Const as Node | undefined;
  if (c) {
    if (c.isnull) return null;
    if (c.boolval) return c.boolval.boolval === true;
    if (c.ival) return Number(c.ival.ival ?? 0);
    if (c.fval) return Number(c.fval.fval ?? 0);
    if (c.sval) return String(c.sval.sval ?? '');
    return undefined;
  }
  const tc = e.TypeCast as Node | undefined;
  if (tc) {
    const v = constant(tc.arg);
    if (v === undefined || v === null) return v;
    const t = names(tc.typeName?.names).at(-1)?.toLowerCase() ?? '';
    if (isBoolType(tc.typeName)) return typeof v === 'boolean' ? v : parseBool(String(v));
    if (/^(int[248]?|integer|smallint|bigint|numeric|decimal|float[48]|real|double precision)$/.test(t)) {
      const num = Number(v);
      return Number.isFinite(num) && String(v).trim() !== '' ? num : undefined;
    }
    if (/^(text|varchar|bpchar|name)$/.test(t)) return String(v);
    return undefined;
  }
  const x = e.A_Expr as Node | undefined;
  if (x?.kind === 'AEXPR_OP') {
    const op = names(x.name).at(-1) ?? '';
    const a = x.lexpr ? constant(x.lexpr) : 0;
    const b = constant(x.rexpr);
    if (a === null || b === null) return a === undefined || b === undefined ? undefined : null;
    if (typeof a !== 'number' || typeof b !== 'number') return undefined;
    if (op === '+') return a + b;
    if (op === '-') return a - b;
    if (op === '*') return a * b;
  }
  return undefined;
}

export function isBoolType(typeName: Node | undefined): boolean {
  const t = names(typeName?.names).at(-1)?.toLowerCase();
  return t === 'bool' || t === 'boolean';
}

/** Orders two constants the way PostgreSQL compares them; undefined when it would not (or might not). */
export function compare(a: Value, b: Value): number | undefined {
  // An untyped literal takes the other side's type: '1' = 1.
  if (typeof a === 'string' && typeof b === 'number') a = Number(a);
  if (typeof b === 'string' && typeof a === 'number') b = Number(b);
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) || Number.isNaN(b) ? undefined : a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    const x = typeof a === 'boolean' ? a : parseBool(String(a));
    const y = typeof b === 'boolean' ? b : parseBool(String(b));
    return x === undefined || y === undefined ? undefined : Number(x) - Number(y);
  }
  // Strings: equality only (ordering depends on the collation).
  return a === b ? 0 : undefined;
}

/** PostgreSQL's boolean input (parse_bool): unique prefixes of true/false/yes/no, on/off, 1/0. */
export function parseBool(text: string): boolean | undefined {
  const v = text.trim().toLowerCase();
  if (v === '') return undefined;
  if ('true'.startsWith(v) || 'yes'.startsWith(v) || v === 'on' || v === '1') return true;
  if ('false'.startsWith(v) || 'no'.startsWith(v) || v === 'off' || v === 'of' || v === '0') return false;
  return undefined;
}
