/**
 * Function checks. For each function a statement calls, in order:
 * 1. a deny entry matching it refuses it;
 * 2. set_config is decided as the SET it performs (a non-constant setting name is refused);
 * 3. a DANGEROUS_FUNCTIONS entry refuses it unless an allow entry names it exactly;
 * 4. pg_notify needs the `notify` session permission, advisory-lock functions need `lock`;
 * 5. in a read-only scope, nextval/setval are refused;
 * 6. built-ins (pg_catalog, information_schema) are allowed; any other function needs an allow
 *    `functions` pattern. Other schemas are never allowed implicitly, not even where the scope
 *    has table grants: a function runs arbitrary code (and may be SECURITY DEFINER).
 * A function with an empty schema (unresolved, unqualified) is checked against the built-in lists
 * as pg_catalog (where the server looks first), is matched by any deny entry whatever its schema
 * part, and is never treated as a built-in.
 *
 * SECURITY DEFINER: the analysis marks the statement (`security_definer_call`) but not the
 * function, so every non-built-in function of such a statement needs an allow entry naming it
 * exactly; a statement so marked that calls no such function is refused (fail closed).
 */
import type { FunctionCall, StatementAnalysis } from '../sql/types.ts';
import { BUILTIN_SCHEMAS, gatedPermission, isDangerousFunction, isWritingFunction } from './builtins.ts';
import { sessionGrant } from './compile.ts';
import { qualified } from './pattern.ts';
import type { DecideContext, Refusal } from './refusal.ts';
import { checkSetting } from './settings.ts';
import { deniedHint } from './tables.ts';

export function checkFunctions(ctx: DecideContext, analysis: StatementAnalysis): Refusal | undefined {
  for (const f of analysis.functions) {
    const refusal = checkFunction(ctx, f);
    if (refusal) return refusal;
  }
  if (analysis.specials.includes('security_definer_call')) return checkSecurityDefiner(ctx, analysis);
  return undefined;
}

function checkFunction(ctx: DecideContext, f: FunctionCall): Refusal | undefined {
  const { rules, limits } = ctx.scope;
  const unknownSchema = f.schema === '';
  const schema = unknownSchema ? 'pg_catalog' : f.schema;
  const fn = qualified(f.schema, f.name);
  const what = `may not call function ${fn}`;

  const denial = (unknownSchema ? rules.functionDenials.findAnySchema(f.name) : rules.functionDenials.find(f.schema, f.name))[0];
  if (denial) return { what, hint: deniedHint(denial.policy), rule: denial.policy };

  if (schema === 'pg_catalog' && f.name === 'set_config') {
    const refusal = checkSetConfig(ctx, f);
    if (refusal) return refusal;
  }

  const exact = unknownSchema ? [] : rules.functionGrants.findExact(f.schema, f.name);
  if (isDangerousFunction(schema, f.name) && exact.length === 0) {
    return {
      what,
      hint: `${fn} is on the gateway's list of dangerous functions (server files, large objects, remote connections, SQL from strings, other sessions, replication); only an allow entry naming it exactly lifts that.`,
      rule: 'builtin:dangerous-functions',
    };
  }

  const permission = gatedPermission(schema, f.name);
  if (permission !== undefined) {
    const g = sessionGrant(ctx.scope, permission);
    if (!g.granted) {
      return {
        what,
        hint: g.deniedBy !== undefined ? `Policy "${g.deniedBy}" denies session permission ${permission}.` : `It needs an allow entry with session: [${permission}].`,
        rule: g.deniedBy ?? 'default-deny',
      };
    }
    if (g.policy !== undefined) ctx.used.add(g.policy);
  }

  if (limits.readOnly && isWritingFunction(schema, f.name)) {
    return { what: `${what}: the access is read-only`, hint: 'A policy matching this identity sets read_only: true.', rule: 'limits:read-only' };
  }

  if (exact.length > 0) {
    ctx.used.add(exact[0].policy);
    return undefined;
  }
  if (!unknownSchema && BUILTIN_SCHEMAS.includes(f.schema)) return undefined;
  const grants = rules.functionGrants.find(f.schema, f.name);
  if (grants.length > 0) {
    ctx.used.add(grants[0].policy);
    return undefined;
  }
  return {
    what,
    hint: 'Functions outside pg_catalog and information_schema must be listed in an allow entry\'s functions (e.g. functions: [public.order_total]).',
    rule: 'default-deny',
  };
}

/** set_config(name, value, is_local) is decided exactly as `SET name = value`. */
function checkSetConfig(ctx: DecideContext, f: FunctionCall): Refusal | undefined {
  const args = f.constArgs ?? [];
  const name = args[0];
  if (typeof name !== 'string') {
    return {
      what: 'may not call set_config with a setting name that is not a constant',
      hint: 'The gateway must see which setting set_config changes; write the name as a string literal.',
      rule: 'builtin:session-hardening',
    };
  }
  const value = typeof args[1] === 'string' ? args[1] : undefined;
  return checkSetting(ctx.scope, { name: name.trim().toLowerCase(), value, action: 'set' }, ctx.used);
}

function checkSecurityDefiner(ctx: DecideContext, analysis: StatementAnalysis): Refusal | undefined {
  const hint = 'The statement calls a SECURITY DEFINER function, which runs with its owner\'s rights; it needs an allow entry naming the function exactly.';
  const candidates = analysis.functions.filter((f) => f.schema === '' || !BUILTIN_SCHEMAS.includes(f.schema));
  if (candidates.length === 0) return { what: 'may not call a security definer function', hint, rule: 'builtin:security-definer' };
  for (const f of candidates) {
    const exact = f.schema === '' ? [] : ctx.scope.rules.functionGrants.findExact(f.schema, f.name);
    if (exact.length === 0) return { what: `may not call function ${qualified(f.schema, f.name)}`, hint, rule: 'builtin:security-definer' };
    ctx.used.add(exact[0].policy);
  }
  return undefined;
}
