/**
 * Function checks. For each function a statement calls, in order:
 * 1. a deny entry matching it refuses it;
 * 2. set_config is decided as the SET it performs (a non-constant setting name is refused);
 * 3. a DANGEROUS_FUNCTIONS entry refuses it unless an allow entry names it exactly;
 * 4. pg_notify needs the `notify` session permission, advisory-lock functions need `lock`;
 * 5. in a read-only scope, nextval/setval are refused;
 * 6. built-ins (pg_catalog, information_schema) are allowed; any other function needs an allow
 *    `functions` pattern. Other schemas are never allowed implicitly, not even where the scope
 *    has table grants: a function runs arbitrary code (and may be SECURITY DEFINER). A function
 *    the analysis marks `userCode` (created after initdb) is never built in, whatever its schema,
 *    and one the statement reaches without naming it (`via`: an overload an unqualified call could
 *    resolve to, a user operator, a user cast) needs a grant like any other.
 * Also: current_setting / SHOW read only READABLE_SETTINGS by a constant name; a sequence function
 * whose target is computed at run time needs the operation on every sequence of the catalog.
 * A function with an empty schema (unresolved, unqualified) is checked against the built-in lists
 * as pg_catalog (where the server looks first), is matched by any deny entry whatever its schema
 * part, and is never treated as a built-in.
 *
 * SECURITY DEFINER: the analysis marks the statement (`security_definer_call`) but not the
 * function, so every non-built-in function of such a statement needs an allow entry naming it
 * exactly; a statement so marked that calls no such function is refused (fail closed).
 */
import type { FunctionCall, StatementAnalysis } from '../sql/types.ts';
import { BUILTIN_SCHEMAS, gatedPermission, isDangerousFunction, isReadableSetting, isWritingFunction, READABLE_SETTINGS_SUMMARY } from './builtins.ts';
import { sessionGrant } from './compile.ts';
import { qualified } from './pattern.ts';
import type { DecideContext, Refusal } from './refusal.ts';
import { checkSetting } from './settings.ts';
import { checkTableAccess, deniedHint } from './tables.ts';

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
  const what = f.via === undefined ? `may not call function ${fn}` : `may not call function ${fn} (reached through ${f.via})`;

  const denial = (unknownSchema ? rules.functionDenials.findAnySchema(f.name) : rules.functionDenials.find(f.schema, f.name))[0];
  if (denial) return { what, hint: deniedHint(denial.policy), rule: denial.policy };

  const builtin = schema === 'pg_catalog' && f.userCode !== true;
  if (builtin && f.name === 'set_config') {
    const refusal = checkSetConfig(ctx, f);
    if (refusal) return refusal;
  }
  if (builtin && f.name === 'current_setting') {
    const refusal = checkSettingRead(f);
    if (refusal) return refusal;
  }
  if (builtin && f.computedTarget !== undefined) {
    const refusal = checkComputedTarget(ctx, f, f.computedTarget);
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
  if (!unknownSchema && BUILTIN_SCHEMAS.includes(f.schema) && f.userCode !== true) return undefined;
  const grants = rules.functionGrants.find(f.schema, f.name);
  if (grants.length > 0) {
    ctx.used.add(grants[0].policy);
    return undefined;
  }
  if (f.via !== undefined) {
    return {
      what,
      hint: `${fn} was created in the database, and PostgreSQL may run it for this statement: it resolves calls and operators by argument types over every schema of the search path, and applies casts on its own. Functions created in the database must be listed in an allow entry's functions; qualify built-in calls (pg_catalog.lower(…)) only where no such overload exists.`,
      rule: 'default-deny',
    };
  }
  if (f.userCode === true && BUILTIN_SCHEMAS.includes(f.schema)) {
    return { what, hint: `${fn} was created in a system schema after the database was initialised; it must be listed in an allow entry's functions.`, rule: 'default-deny' };
  }
  return {
    what,
    hint: 'Functions outside pg_catalog and information_schema must be listed in an allow entry\'s functions (e.g. functions: [public.order_total]).',
    rule: 'default-deny',
  };
}

/**
 * A sequence function whose target is computed at run time could name any sequence: it is
 * allowed only when the identity may use every sequence the catalog has.
 */
function checkComputedTarget(ctx: DecideContext, f: FunctionCall, t: NonNullable<FunctionCall['computedTarget']>): Refusal | undefined {
  for (const relation of t.targets) {
    const refusal = checkTableAccess(ctx, { op: t.op, relation, columns: [] });
    if (refusal) {
      return {
        what: `may not call ${f.name} with a sequence computed at run time: it could name ${qualified(relation.schema, relation.name)}, which this identity may not ${t.op === 'update' ? 'update' : 'read'}`,
        hint: `Name the sequence as a constant (${f.name}('schema.sequence')); a computed name is allowed only where every sequence may be used.`,
        rule: refusal.rule,
      };
    }
  }
  return undefined;
}

/**
 * current_setting(name) and SHOW name read a setting: only READABLE_SETTINGS, by a constant
 * name. Others (data_directory, hba_file, archive_command, primary_conninfo, custom settings …)
 * may hold paths, commands, connection strings and secrets.
 */
function checkSettingRead(f: FunctionCall): Refusal | undefined {
  const name = f.constArgs?.[0];
  // Named by a bind parameter alone: the gate decides it at Bind on the parameter's value, on a
  // protocol Parse only; every other way of running it is refused there (engine/gate.ts
  // `settingParams`).
  if (typeof name !== 'string' && typeof f.paramArgs?.[0] === 'number') return undefined;
  if (typeof name !== 'string') {
    return {
      what: 'may not read a setting whose name is not a constant',
      hint: 'The gateway must see which setting is read; write the name as a string literal.',
      rule: 'builtin:protected-settings',
    };
  }
  const n = name.trim().toLowerCase();
  if (isReadableSetting(n)) return undefined;
  return {
    what: n === 'all' ? 'may not read every setting (SHOW ALL)' : `may not read setting ${n}`,
    hint: `Settings can hold server paths, commands, connection strings and secrets; only the settings clients and drivers need are readable (${READABLE_SETTINGS_SUMMARY}).`,
    rule: 'builtin:protected-settings',
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
  const candidates = analysis.functions.filter((f) => f.schema === '' || f.userCode === true || !BUILTIN_SCHEMAS.includes(f.schema));
  if (candidates.length === 0) return { what: 'may not call a security definer function', hint, rule: 'builtin:security-definer' };
  for (const f of candidates) {
    const exact = f.schema === '' ? [] : ctx.scope.rules.functionGrants.findExact(f.schema, f.name);
    if (exact.length === 0) return { what: `may not call function ${qualified(f.schema, f.name)}`, hint, rule: 'builtin:security-definer' };
    ctx.used.add(exact[0].policy);
  }
  return undefined;
}
