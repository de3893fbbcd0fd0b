/**
 * User code a statement reaches without naming it: overloads created outside the built-ins that
 * an unqualified call could resolve to, operators created by users, and casts whose function is
 * user code (see `PlantedCode` in catalog/types.ts for when a cast can run).
 *
 * PostgreSQL resolves an unqualified call over every schema of the search path by argument
 * types: `lower(1)` runs `public.lower(integer)` when someone created it, although pg_catalog
 * comes first, because pg_catalog has no `lower(integer)`. The analyser does not type
 * expressions, so every overload that COULD be chosen — same name, an argument count it accepts
 * (defaults and VARIADIC considered), in a schema the server would look in — is recorded as a
 * call to that function (`userCode`, with `via` saying how it is reached). The policy then
 * requires it to be granted like any function outside pg_catalog, and the value it returns is of
 * unknown provenance (`ANY_SOURCE`): it may hold anything the upstream role can read.
 */
import type { CatalogCast, CatalogFunction, CatalogOperator } from '../catalog/types.ts';
import { list, names, type Node } from './ast.ts';
import type { FunctionCall } from './types.ts';

/** What the matching needs of the collector. */
export interface PlantedSink {
  readonly catalog: import('../catalog/types.ts').CatalogSnapshot;
  readonly path: readonly string[];
  addFunction(fc: FunctionCall): void;
  special(s: 'security_definer_call'): void;
}

/** Whether a function accepts `n` arguments (unknown `n`: it might). */
export function arityFits(f: CatalogFunction, n: number | undefined, variadicCall: boolean): boolean {
  if (n === undefined) return true;
  const max = f.argTypes.length;
  const min = max - f.argDefaults;
  if (f.variadic && !variadicCall) return n >= Math.max(0, min - 1);
  return n >= min && n <= max;
}

function record(sink: PlantedSink, fn: { schema: string; name: string }, via: string | undefined, secdef = false): void {
  const fc: FunctionCall = { schema: fn.schema, name: fn.name, resolved: true, userCode: true };
  if (via !== undefined) fc.via = via;
  sink.addFunction(fc);
  if (secdef) sink.special('security_definer_call');
}

/**
 * User overloads a call to `name` (qualified by `schema` when written so) with `nargs` arguments
 * could resolve to; each is recorded. Returns whether there was any.
 */
export function plantedCalls(
  sink: PlantedSink,
  schema: string | undefined,
  name: string,
  nargs: number | undefined,
  variadicCall: boolean,
  resolvedSchema: string | undefined,
): boolean {
  const overloads = sink.catalog.planted.functions.get(name);
  let any = false;
  if (overloads) {
    for (const f of overloads) {
      if (f.schema === resolvedSchema) {
        // Already recorded as the call's own resolution.
        any = true;
        continue;
      }
      if (schema !== undefined ? f.schema !== schema : !sink.path.includes(f.schema)) continue;
      if (!arityFits(f, nargs, variadicCall)) continue;
      if (schema === undefined && hiddenByEarlier(sink, f)) continue;
      record(sink, f, schema === undefined ? `${name}(…) written without a schema` : undefined, f.securityDefiner);
      any = true;
    }
  }
  // `typename(x)` is a cast when no function of that name takes x (PostgreSQL's function-style cast).
  if ((nargs === undefined || nargs === 1) && plantedCastsByName(sink, schema, name, `${name}(…)`)) any = true;
  return any;
}

/**
 * PostgreSQL considers only the earliest of several functions with identical argument types on
 * the path: a user `public.lower(text)` never wins over `pg_catalog.lower(text)`.
 */
function hiddenByEarlier(sink: PlantedSink, f: CatalogFunction): boolean {
  for (const s of sink.path) {
    if (s === f.schema) return false;
    const same = sink.catalog.functions.get(`${s}.${f.name}`)?.some((o) => o.argTypes.length === f.argTypes.length && o.argTypes.every((t, i) => t === f.argTypes[i]));
    if (same) return true;
  }
  return false;
}

/**
 * The operators of an A_Expr: its own name, or for BETWEEN the `>=` and `<=` it expands to.
 * Unary (prefix) when it has no left operand.
 */
function exprOperators(e: Node): string[][] {
  const kind = e.kind as string;
  if (kind.startsWith('AEXPR_BETWEEN') || kind.startsWith('AEXPR_NOT_BETWEEN')) return [['>='], ['<='], ['<'], ['>']];
  return [names(e.name)];
}

/** Records the user operators an A_Expr could run; returns whether there was any. */
export function plantedOperators(sink: PlantedSink, e: Node): boolean {
  if (sink.catalog.planted.operators.size === 0) return false;
  let any = false;
  for (const written of exprOperators(e)) if (plantedOperator(sink, written, e.lexpr !== undefined && e.lexpr !== null)) any = true;
  return any;
}

/** Records the user operators an operator name (`=`, `OPERATOR(public.#)`) could be; binary or prefix. */
export function plantedOperator(sink: PlantedSink, written: string[], binary: boolean): boolean {
  const ops = sink.catalog.planted.operators.get(written.at(-1) ?? '');
  if (!ops) return false;
  const schema = written.length > 1 ? written[written.length - 2] : undefined;
  let any = false;
  for (const o of ops) {
    if (schema !== undefined ? o.schema !== schema : !sink.path.includes(o.schema)) continue;
    if (binary !== (o.left !== 0)) continue;
    record(sink, o.fn, `operator ${describeOperator(o)}`);
    any = true;
  }
  return any;
}

function describeOperator(o: CatalogOperator): string {
  return `${o.schema}.${o.name}`;
}

function describeCast(c: CatalogCast): string {
  if (c.domainCheck) {
    const d = c.targetTypes.names[c.targetTypes.oids.indexOf(c.target)];
    return `the checks of domain ${d ? `${d.schema}.${d.name}` : String(c.target)}`;
  }
  const s = c.sourceTypes.names[c.sourceTypes.oids.indexOf(c.source)] ?? c.sourceTypes.names[0];
  const t = c.targetTypes.names[c.targetTypes.oids.indexOf(c.target)] ?? c.targetTypes.names[0];
  return `the cast from ${s ? `${s.schema}.${s.name}` : String(c.source)} to ${t ? `${t.schema}.${t.name}` : String(c.target)}`;
}

function plantedCastsByName(sink: PlantedSink, schema: string | undefined, name: string, written: string): boolean {
  const casts = sink.catalog.planted.castsByTypeName.get(name);
  if (!casts) return false;
  let any = false;
  for (const c of casts) {
    const named = [...c.sourceTypes.names, ...c.targetTypes.names].some((t) => t.name === name && (schema === undefined || t.schema === schema));
    if (!named) continue;
    record(sink, c.fn, `${describeCast(c)} (${written})`);
    any = true;
  }
  return any;
}

/** Records the user casts a `::type` (a TypeName node) could run; returns whether there was any. */
export function plantedCast(sink: PlantedSink, typeName: Node | undefined): boolean {
  if (!typeName || sink.catalog.planted.castsByTypeName.size === 0) return false;
  const parts = names(typeName.names);
  const name = parts.at(-1);
  if (name === undefined) return false;
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  // `x::t[]` runs t's cast element by element: its array type is named `_t`.
  const isArray = list(typeName.arrayBounds).length > 0;
  let any = plantedCastsByName(sink, schema, name, `::${parts.join('.')}`);
  if (isArray && plantedCastsByName(sink, schema, `_${name}`, `::${parts.join('.')}[]`)) any = true;
  return any;
}

/**
 * Casts the server may apply on its own in a statement: implicit and assignment casts of the
 * types of the columns of the relations it uses, of parameters the client types, and those
 * between built-in types (anywhere).
 */
export function plantedCoercions(sink: PlantedSink, columnTypes: Iterable<number>, sawParameter: boolean): void {
  const p = sink.catalog.planted;
  for (const c of p.everywhere) record(sink, c.fn, `${describeCast(c)}, which the server may apply to any value`);
  if (sawParameter) for (const c of p.castsFromParameters) record(sink, c.fn, `${describeCast(c)}, which the server applies to a parameter of that type`);
  if (p.castsByColumnType.size === 0) return;
  for (const oid of columnTypes) {
    for (const c of p.castsByColumnType.get(oid) ?? []) record(sink, c.fn, `${describeCast(c)}, which the server may apply to a column of the statement`);
  }
}
