/**
 * Table and column checks. Every TableAccess of a statement must be granted for its operation by
 * some allow entry and not denied by any deny entry; its columns must pass the read or write
 * allowlists of the grants and every column denial.
 *
 * - A relation with an empty schema (unresolved and unqualified) is matched by grants as if its
 *   schema were the empty name (only a `*` schema part matches it) and by denials whatever their
 *   schema part: the server may resolve it to any schema, so a denial must not miss it.
 * - `allColumns` (the column list could not be known) passes only where no column of the relation
 *   is restricted: an unrestricted grant and no column denial that could match it.
 * - select on the catalog relations of SAFE_CATALOG_RELATIONS is granted by default (psql, drivers
 *   and tools read them to describe the schema). Every other relation of pg_catalog and
 *   information_schema (statistics, password hashes, connection strings, configuration, other
 *   sessions, whatever a later version adds) needs an allow entry naming it exactly: a wildcard
 *   grant does not reach system catalogs, and the upstream's own permissions are not relied on.
 *   The same holds for PROTECTED_EXTENSION_RELATIONS (pg_stat_statements) in any schema.
 * - a read of pg_catalog.pg_settings that the analysis proved limited to named settings
 *   (`WHERE name = 'max_index_keys'`, see `sql/settings-pin.ts`) is readable by default when every
 *   name is a setting `current_setting` may read: it returns nothing `current_setting` of those
 *   names would not.
 */
import type { TableAccess, TableOperation } from '../sql/types.ts';
import { assertNever } from '../errors.ts';
import { BUILTIN_SCHEMAS, catalogRefusalReason, HIDDEN_CATALOG_COLUMNS, hiddenColumnReason, isReadableSetting, PROTECTED_EXTENSION_RELATIONS, SAFE_CATALOG_RELATIONS } from './builtins.ts';
import type { ColumnDenial, TableGrant } from './compile.ts';
import { qualified } from './pattern.ts';
import type { DecideContext, Refusal } from './refusal.ts';

/** The verb of a message: `may not <verb> public.orders`. */
export function operationVerb(op: TableOperation): string {
  switch (op) {
    case 'select':
      return 'read';
    case 'insert':
      return 'insert into';
    case 'update':
      return 'update';
    case 'delete':
      return 'delete from';
    case 'truncate':
      return 'truncate';
    case 'references':
      return 'reference';
    case 'trigger':
      return 'create triggers on';
    default:
      return assertNever(op, 'table operation');
  }
}

const READ_OPS: ReadonlySet<TableOperation> = new Set(['select', 'references']);
const WRITE_OPS: ReadonlySet<TableOperation> = new Set(['insert', 'update']);

export function checkTableAccess(ctx: DecideContext, access: TableAccess): Refusal | undefined {
  const { rules } = ctx.scope;
  const { schema, name } = access.relation;
  const unknownSchema = schema === '';
  const rel = qualified(schema, name);
  const verb = operationVerb(access.op);

  // A denial of a name the relation had before a rename still applies to it. (A copy: `find`
  // may return the index's own list, which MUST NOT grow.)
  const denials = [...(unknownSchema ? rules.tableDenials.findAnySchema(name) : rules.tableDenials.find(schema, name))];
  if (!unknownSchema && ctx.former) for (const [s, t] of ctx.former.relation(schema, name)) denials.push(...rules.tableDenials.find(s, t));
  const denial = denials.find((d) => d.ops.has(access.op));
  if (denial) return { what: `may not ${verb} ${rel}`, hint: deniedHint(denial.policy), rule: denial.policy };

  const grants = rules.tableGrants.find(schema, name).filter((g) => g.ops.has(access.op));
  // An unqualified name the analyser could not resolve is looked up in pg_catalog first by the server.
  const catalogName = `${unknownSchema ? 'pg_catalog' : schema}.${name}`;
  const system = unknownSchema || BUILTIN_SCHEMAS.includes(schema);
  const safe = system && (SAFE_CATALOG_RELATIONS.has(catalogName) || readableSettingsOnly(access));
  const protectedExtension = PROTECTED_EXTENSION_RELATIONS.includes(name);
  if (((system && !safe && (!unknownSchema || isCatalogLike(name))) || protectedExtension) && access.op === 'select' && !grants.some((g) => !g.pattern.wild)) {
    return {
      what: `may not ${verb} ${rel}`,
      hint: `${capitalize(catalogRefusalReason(protectedExtension ? `${schema}.${name}` : catalogName))}; the gateway allows only the system catalogs that describe the schema, and only an allow entry naming ${rel} exactly lifts this.`,
      rule: 'builtin:protected-catalog',
    };
  }
  const hidden = safe && access.op === 'select' ? HIDDEN_CATALOG_COLUMNS.get(catalogName) : undefined;
  if (hidden && !grants.some((g) => !g.pattern.wild)) {
    const column = access.allColumns === true ? hidden[0] : access.columns.find((c) => hidden.includes(c));
    if (column !== undefined) {
      return {
        what: `may not read column ${qualified(schema, name, column)}`,
        hint: `${hiddenColumnReason(catalogName)}; read the other columns by name, or add an allow entry naming ${rel} exactly.`,
        rule: 'builtin:protected-catalog',
      };
    }
  }
  const builtinRead = grants.length === 0 && access.op === 'select' && safe && !unknownSchema;
  if (grants.length === 0 && !builtinRead) {
    return { what: `may not ${verb} ${rel}`, hint: `No policy for this identity grants ${access.op} on ${rel}.`, rule: 'default-deny' };
  }

  const reads = READ_OPS.has(access.op);
  const writes = WRITE_OPS.has(access.op);
  if (reads || writes) {
    const refusal = checkColumns(ctx, access, grants, builtinRead, reads);
    if (refusal) return refusal;
  }
  for (const g of grants) ctx.used.add(g.policy);
  return undefined;
}

function checkColumns(ctx: DecideContext, access: TableAccess, grants: TableGrant[], builtinRead: boolean, reads: boolean): Refusal | undefined {
  const { schema, name } = access.relation;
  const unknownSchema = schema === '';
  const rel = qualified(schema, name);
  const kind = reads ? 'read' : 'write';
  const allowlist = (g: TableGrant) => (reads ? g.columns : g.writeColumns);
  // Every name the relation is or was known by (renames followed by the catalog).
  const relNames: (readonly string[])[] = [[schema, name], ...(unknownSchema || !ctx.former ? [] : ctx.former.relation(schema, name))];
  const denials: ColumnDenial[] = ctx.scope.rules.columnDenials.all.filter(
    (d) => (reads ? d.read : d.write) && relNames.some(([s, t]) => (unknownSchema || d.pattern.parts[0].test(s)) && d.pattern.parts[1].test(t)),
  );
  const unrestricted = builtinRead || grants.some((g) => allowlist(g) === undefined);

  if (access.allColumns === true && (!unrestricted || denials.length > 0)) {
    return {
      what: `may not ${kind} ${rel} without naming its columns`,
      hint: `Some columns of ${rel} are restricted for this identity and the gateway could not tell which columns the statement uses; name the columns explicitly.`,
      rule: denials[0]?.policy ?? 'default-deny',
    };
  }
  for (const column of access.columns) {
    const former = unknownSchema || !ctx.former ? [] : ctx.former.column(schema, name, column);
    const denial =
      denials.find((d) => (unknownSchema || d.pattern.parts[0].test(schema)) && d.pattern.parts[1].test(name) && d.pattern.parts[2].test(column)) ??
      denials.find((d) => former.some(([s, t, c]) => d.pattern.parts[0].test(s) && d.pattern.parts[1].test(t) && d.pattern.parts[2].test(c)));
    if (denial) {
      const was = former.length > 0 && !denial.pattern.parts[2].test(column) ? ` (renamed from ${qualified(...former[0])})` : '';
      return { what: `may not ${kind} column ${qualified(schema, name, column)}${was}`, hint: deniedHint(denial.policy), rule: denial.policy };
    }
    // An allowlist must allow every name the column has had: renaming a column onto an allowed
    // name does not make its values allowed.
    const allowed = (g: TableGrant) => [column, ...former.map((f) => f[2])].every((n) => allowlist(g)?.some((c) => c.test(n)));
    if (!unrestricted && !grants.some(allowed)) {
      const listed = [...new Set(grants.flatMap((g) => (allowlist(g) ?? []).map((c) => c.text)))].join(', ');
      return {
        what: `may not ${kind} column ${qualified(schema, name, column)}`,
        hint: `The grants on ${rel} allow this identity to ${kind} only ${listed === '' ? 'no columns' : `these columns: ${listed}`}.`,
        rule: 'default-deny',
      };
    }
  }
  return undefined;
}

/**
 * A read of pg_catalog.pg_settings proven to return only rows of readable settings. A row's name
 * equals one of the literals exactly (text equality), so it is readable when the literal lowered
 * is (setting names are case-insensitive for current_setting; pg_settings keeps `DateStyle`).
 */
function readableSettingsOnly(access: TableAccess): boolean {
  const r = access.relation;
  const names = access.settingNames;
  return access.op === 'select' && r.resolved && r.schema === 'pg_catalog' && r.name === 'pg_settings' && names !== undefined && names.length > 0 && names.every((n) => isReadableSetting(n.toLowerCase()));
}

/** A name the server could find in pg_catalog (every catalog relation starts with pg_). */
function isCatalogLike(name: string): boolean {
  return name.startsWith('pg_');
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function deniedHint(policy: string): string {
  return `Policy "${policy}" denies it, and a denial wins over any grant.`;
}
