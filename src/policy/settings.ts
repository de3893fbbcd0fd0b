/**
 * Session hardening: which setting changes a client may make (SET, SET LOCAL, RESET, DISCARD,
 * SET TRANSACTION, BEGIN … READ WRITE, and set_config(), which is decided as the SET it is).
 *
 * - SET ROLE and SET SESSION AUTHORIZATION are always refused: they change who the session is.
 * - RESET ALL and DISCARD ALL are allowed: the gateway passes the role and the limits (read-only,
 *   statement_timeout) as startup parameters, which are the values RESET ALL returns to, and
 *   `role` is not reset by RESET ALL at all (PostgreSQL's GUC_NO_RESET_ALL; DISCARD ALL keeps the
 *   startup role too). The engine follows what they do to search_path and prepared statements.
 * - PROTECTED_SETTINGS are refused (or restricted to safe values), also as values stored for
 *   later (ALTER ROLE / DATABASE / SYSTEM … SET, a function's SET clause).
 * - search_path may name only pg_catalog, information_schema and schemas the scope grants
 *   something in (tables, functions or DDL), so that no other schema can shadow a granted name;
 *   pg_temp is refused (listing it lets temporary functions shadow built-ins) and "$user" counts
 *   only when the scope sets a role whose namesake schema is granted. RESET and DEFAULT are
 *   allowed. The engine follows the session's search_path through transactions and resolves
 *   names with it either way (engine/search-path.ts); this rule is defence in depth against a
 *   resolution the gateway and the server might disagree on.
 * - statement_timeout, under a limit: may be lowered, never raised, cleared (0) or reset — the
 *   value RESET returns to is not something the policy can see.
 * - default_transaction_read_only / transaction_read_only, in a read-only scope: may only be
 *   set on; turning them off, resetting them or a value the gateway cannot read is refused.
 */
import type { SettingChange } from '../sql/types.ts';
import { COMPILED_PROTECTED_SETTINGS, BUILTIN_SCHEMAS } from './builtins.ts';
import { sessionGrant, type Scope } from './compile.ts';
import { formatMs } from './format.ts';
import { quoteIdent } from './pattern.ts';
import type { Refusal } from './refusal.ts';
import { assertNever } from '../errors.ts';

/** A setting change to decide. `value` undefined means "not a constant" (set_config with an expression). */
export interface SettingRequest {
  name: string | null;
  value: string | null | undefined;
  action: SettingChange['action'];
}

const HARDENING = 'builtin:session-hardening';
const READ_ONLY_SETTINGS = new Set(['default_transaction_read_only', 'transaction_read_only']);

/** Decide one setting change; undefined when allowed. Adds the policies it relied on to `used`. */
export function checkSetting(scope: Scope, change: SettingRequest, used: Set<string>): Refusal | undefined {
  switch (change.action) {
    case 'set_role':
      return { what: 'may not change role (SET ROLE)', hint: 'The gateway sets the upstream role for this identity; a client may not change it.', rule: HARDENING };
    case 'set_session_authorization':
      return {
        what: 'may not change session authorization (SET SESSION AUTHORIZATION)',
        hint: 'The gateway sets the upstream role for this identity; a client may not change it.',
        rule: HARDENING,
      };
    case 'reset_all':
      // Back to the session's startup values, which the gateway chose (see above).
      return undefined;
    case 'set':
    case 'set_local':
    case 'reset':
    case 'set_transaction':
    case 'set_stored':
      return checkNamed(scope, change, used);
    default:
      return assertNever(change.action, 'setting action');
  }
}

function checkNamed(scope: Scope, change: SettingRequest, used: Set<string>): Refusal | undefined {
  if (change.name === null || change.name === '') {
    return { what: 'may not change a setting the gateway cannot name', hint: 'Name the setting explicitly.', rule: HARDENING };
  }
  const name = change.name.toLowerCase();
  const isReset = change.action === 'reset' || change.value === null;
  const shown = change.value === undefined ? 'a non-constant value' : change.value === null ? 'its default' : change.value;

  const protectedSetting = COMPILED_PROTECTED_SETTINGS.find((s) => s.test(name));
  if (protectedSetting) {
    if (protectedSetting.unless !== undefined) {
      const g = sessionGrant(scope, protectedSetting.unless);
      if (g.granted) {
        if (g.policy !== undefined) used.add(g.policy);
        return undefined;
      }
      return {
        what: `may not change custom setting ${name}`,
        hint: g.deniedBy !== undefined ? `Policy "${g.deniedBy}" denies session permission ${protectedSetting.unless}.` : `Custom settings ${protectedSetting.why}; an allow entry with session: [${protectedSetting.unless}] lifts this.`,
        rule: g.deniedBy ?? HARDENING,
      };
    }
    const allowed = protectedSetting.allowed;
    if (allowed !== undefined && (isReset || (change.value !== undefined && allowed.some((a) => normalize(a) === normalize(change.value as string))))) return undefined;
    return {
      what: allowed === undefined ? `may not change setting ${name}` : `may not set ${name} to ${shown}`,
      hint: `${capitalize(protectedSetting.why)}.${allowed === undefined ? '' : ` Allowed: ${allowed.join(', ')}.`}`,
      rule: HARDENING,
    };
  }

  // A value stored for other sessions or for a function's calls does not change this session's
  // search_path or limits (the gateway's startup settings outrank stored ones); only the
  // protected settings above apply to it.
  if (change.action === 'set_stored') return undefined;

  if (name === 'search_path') return checkSearchPath(scope, change);

  if (name === 'statement_timeout') {
    const limit = scope.limits.statementTimeoutMs;
    if (limit === undefined) return undefined;
    const refuse = (what: string): Refusal => ({
      what,
      hint: `A policy matching this identity limits statement_timeout to ${formatMs(limit)}; it may be lowered, not raised, cleared or reset.`,
      rule: 'limits:statement-timeout',
    });
    if (isReset) return refuse(`may not reset statement_timeout (the limit is ${formatMs(limit)})`);
    const ms = typeof change.value === 'string' ? parseTimeoutMs(change.value) : undefined;
    if (ms === undefined) return refuse(`may not set statement_timeout to ${shown} (the limit is ${formatMs(limit)})`);
    if (ms === 0 || ms > limit) return refuse(`may not set statement_timeout to ${shown} (the limit is ${formatMs(limit)})`);
    return undefined;
  }

  if (READ_ONLY_SETTINGS.has(name) && scope.limits.readOnly) {
    if (typeof change.value === 'string' && change.action !== 'reset' && isOn(change.value)) return undefined;
    return {
      what: isReset ? `may not reset ${name}: the access is read-only` : `may not turn off read-only (${name})`,
      hint: 'A policy matching this identity sets read_only: true.',
      rule: 'limits:read-only',
    };
  }
  return undefined;
}

function checkSearchPath(scope: Scope, change: SettingRequest): Refusal | undefined {
  if (change.action === 'reset' || change.value === null) return undefined;
  const hint =
    'Only pg_catalog, information_schema and schemas this identity is granted something in may be on the search_path, so that no other schema can shadow a granted name.';
  if (change.value === undefined) return { what: 'may not set search_path from a non-constant value', hint, rule: HARDENING };
  const schemas = parseSearchPath(change.value);
  if (schemas === undefined) return { what: 'may not set search_path to a value the gateway cannot read', hint, rule: HARDENING };
  for (const schema of schemas) {
    if (!searchPathSchemaAllowed(scope, schema)) return { what: `may not put schema ${quoteIdent(schema)} on the search_path`, hint, rule: HARDENING };
  }
  return undefined;
}

function searchPathSchemaAllowed(scope: Scope, schema: string): boolean {
  if (BUILTIN_SCHEMAS.includes(schema)) return true;
  if (schema.startsWith('pg_temp')) return false;
  if (schema === '$user') return scope.limits.role !== undefined && schemaGranted(scope, scope.limits.role);
  return schemaGranted(scope, schema);
}

/** Whether the scope grants anything (tables, functions, DDL) in the schema. */
export function schemaGranted(scope: Scope, schema: string): boolean {
  const r = scope.rules;
  return (
    r.tableGrants.all.some((g) => g.pattern.parts[0].test(schema)) ||
    r.functionGrants.all.some((g) => g.pattern.parts[0].test(schema)) ||
    r.ddlSchemas.some((g) => g.schema.test(schema))
  );
}

/**
 * Parse a search_path value as the analyser renders it (`a, "B"`, `'a, b'`, `"$user", public`)
 * into schema names: unquoted names fold to lower case, double quotes keep case, a single-quoted
 * string is itself a list. Undefined when the text is not such a list.
 */
export function parseSearchPath(value: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of splitTopLevel(value)) {
    const item = raw.trim();
    if (item === '') continue;
    if (item.length >= 2 && item.startsWith("'") && item.endsWith("'")) {
      const inner = parseSearchPath(item.slice(1, -1).replace(/''/g, "'"));
      if (inner === undefined) return undefined;
      out.push(...inner);
    } else if (item.length >= 2 && /^"(?:[^"]|"")*"$/.test(item)) {
      const name = item.slice(1, -1).replace(/""/g, '"');
      if (name === '') return undefined;
      out.push(name);
    } else if (/^[^\s"',]+$/.test(item)) {
      out.push(item.toLowerCase());
    } else {
      return undefined;
    }
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let current = '';
  for (const c of text) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts;
}

/** A time setting's value in milliseconds (PostgreSQL's units; no unit = ms); undefined when unreadable. */
export function parseTimeoutMs(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$/.exec(unquote(value).trim().toLowerCase());
  if (!m) return undefined;
  const unit = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'us' | 'ms' | 's' | 'min' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

/** Whether a boolean setting's value reads as true (PostgreSQL accepts unique prefixes of true/yes). */
export function isOn(value: string): boolean {
  const v = unquote(value).trim().toLowerCase();
  return v === 'on' || v === '1' || (v.length > 0 && ('true'.startsWith(v) || 'yes'.startsWith(v)));
}

/** A value compared with an allowed list: unquoted, lower case, without `-` and `_`. */
export function normalize(value: string): string {
  return unquote(value.trim()).trim().toLowerCase().replace(/[-_]/g, '');
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"')))) return v.slice(1, -1);
  return v;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
