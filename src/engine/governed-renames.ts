/**
 * Renames of governed objects. Masking rules, column denials and column allowlists are written
 * with names; a rename through the gateway (`ALTER TABLE … RENAME [COLUMN]`, `ALTER VIEW /
 * MATERIALIZED VIEW … RENAME`, `ALTER … SET SCHEMA`, `ALTER SCHEMA … RENAME`) of an object a rule
 * governs would leave the rule naming nothing. The catalog follows renames it sees (the former
 * names in catalog/renames.ts), but that record lives only as long as the process; so such a
 * rename is refused for every identity, with a hint to make it on the database and change the
 * rule in the same step.
 *
 * Governed: a column a masking rule or a column denial names (under its current or a former
 * name); a relation a table denial names, that has a governed column, or that a column allowlist
 * restricts; a schema holding a governed relation or named by a rule's schema part.
 *
 * Links are held the same way: `ALTER TABLE child INHERIT parent` and `ALTER TABLE parent ATTACH
 * PARTITION child` make a scan of the parent return the child's rows under the parent's names,
 * which no rule names; linking a governed relation under another is refused for every identity.
 *
 * Pure: the caller passes the catalog snapshot and the compiled rules.
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import type { FormerNames } from '../catalog/index.ts';
import type { CompiledMasking } from '../masking/index.ts';
import type { CompiledPolicies } from '../policy/index.ts';
import { qualified, type NamePattern } from '../policy/pattern.ts';
import type { DdlTarget, StatementAnalysis } from '../sql/types.ts';

interface Rule {
  /** How the refusal names it: `masking rule public.customers.ssn`. */
  label: string;
  pattern: NamePattern;
}

export interface GovernedRules {
  /** Three-part patterns: masking rules and column denials. */
  readonly columns: readonly Rule[];
  /** Two-part patterns: table denials and tables with a column allowlist. */
  readonly relations: readonly Rule[];
}

const cache = new WeakMap<CompiledMasking, WeakMap<CompiledPolicies, GovernedRules>>();

/** Every name-keyed rule of the configuration, whoever it applies to (cached per config version). */
export function governedRules(masking: CompiledMasking, policies: CompiledPolicies): GovernedRules {
  let inner = cache.get(masking);
  const hit = inner?.get(policies);
  if (hit) return hit;
  const columns: Rule[] = masking.rules.map((r) => ({ label: `masking rule ${r.column}`, pattern: r.pattern }));
  const relations: Rule[] = [];
  for (const p of policies.policies) {
    for (const d of p.columnDenials) columns.push({ label: `deny rule ${d.pattern.source} of policy "${p.name}"`, pattern: d.pattern });
    for (const d of p.tableDenials) relations.push({ label: `deny rule ${d.pattern.source} of policy "${p.name}"`, pattern: d.pattern });
    for (const g of p.tableGrants) {
      if (g.columns || g.writeColumns) relations.push({ label: `column list on ${g.pattern.source} of policy "${p.name}"`, pattern: g.pattern });
    }
  }
  const rules = { columns, relations };
  if (!inner) cache.set(masking, (inner = new WeakMap()));
  inner.set(policies, rules);
  return rules;
}

const RELATION_TYPES = new Set(['table', 'view', 'materialized view', 'foreign table', 'sequence', 'index']);

const test = (p: NamePattern, names: readonly string[]) => p.parts.length === names.length && p.parts.every((g, i) => g.test(names[i]));

class Governance {
  constructor(
    private readonly rules: GovernedRules,
    private readonly catalog: CatalogSnapshot | null,
    private readonly former: FormerNames,
  ) {}

  column(schema: string, table: string, column: string): Rule | undefined {
    const names = [[schema, table, column], ...this.former.column(schema, table, column)];
    return this.rules.columns.find((r) => names.some((n) => test(r.pattern, n)));
  }

  /** A table denial or column list naming the relation (under its current or a former name). */
  ownRelationRule(schema: string, table: string): Rule | undefined {
    const names = [[schema, table], ...this.former.relation(schema, table)];
    return this.rules.relations.find((r) => names.some((n) => test(r.pattern, n)));
  }

  relation(schema: string, table: string): Rule | undefined {
    const names = [[schema, table], ...this.former.relation(schema, table)];
    const own = this.ownRelationRule(schema, table);
    if (own) return own;
    const rel = this.catalog?.relations.get(`${schema}.${table}`);
    if (rel) {
      for (const c of rel.columns) {
        const r = this.column(schema, table, c.name);
        if (r) return r;
      }
      return undefined;
    }
    // Not in the catalog: any column rule that could name one of its columns governs it.
    return this.rules.columns.find((r) => names.some((n) => r.pattern.parts[0].test(n[0]) && r.pattern.parts[1].test(n[1])));
  }

  schema(schema: string): Rule | undefined {
    const named = [...this.rules.columns, ...this.rules.relations].find((r) => !r.pattern.parts[0].wild && r.pattern.parts[0].test(schema));
    if (named) return named;
    for (const rel of this.catalog?.relations.values() ?? []) {
      if (rel.schema !== schema) continue;
      const r = this.relation(rel.schema, rel.name);
      if (r) return r;
    }
    return undefined;
  }

  /** The rule governing what a rename or move target changes the name of, if any. */
  target(d: DdlTarget): { what: string; rule: Rule } | undefined {
    const moves = d.newSchema !== undefined;
    if (d.action !== 'rename' && !moves) return undefined;
    if (d.objectType === 'schema') {
      const s = d.name ?? d.schema;
      // A schema the analysis could not name may hold anything: governed if any rule exists.
      const rule = s === undefined ? [...this.rules.columns, ...this.rules.relations][0] : this.schema(s);
      return rule && { what: s === undefined ? 'a schema' : `schema ${qualified(s)}`, rule };
    }
    if (d.objectType === 'column' && d.on && d.name !== undefined) {
      // A column of a relation under a column list or a table denial counts too: renaming one of
      // its columns onto an allowed name would change what the list lets through.
      const on = d.on;
      const rule = this.anySchema(on.schema, (s) => this.column(s, on.name, d.name!) ?? this.ownRelationRule(s, on.name));
      return rule && { what: `column ${qualified(d.on.schema, d.on.name, d.name)}`, rule };
    }
    if (RELATION_TYPES.has(d.objectType) && d.name !== undefined) {
      const rule = this.anySchema(d.schema ?? '', (s) => this.relation(s, d.name!));
      return rule && { what: `${d.objectType} ${qualified(d.schema, d.name)}`, rule };
    }
    return undefined;
  }

  /** The rule governing a relation about to become a child of another (INHERIT / ATTACH PARTITION). */
  link(child: { schema: string; name: string }): { what: string; rule: Rule } | undefined {
    const rule = this.anySchema(child.schema, (s) => this.relation(s, child.name));
    return rule && { what: `table ${qualified(child.schema, child.name)}`, rule };
  }

  /** A name the analyser could not place in a schema may be in any: every schema is tried. */
  private anySchema(schema: string, check: (s: string) => Rule | undefined): Rule | undefined {
    if (schema !== '') return check(schema);
    const schemas = new Set([...(this.catalog?.schemas ?? []), ...(this.catalog ? [...this.catalog.relations.values()].map((r) => r.schema) : [])]);
    for (const s of schemas) {
      const r = check(s);
      if (r) return r;
    }
    return undefined;
  }
}

/**
 * The refusal of a statement that renames or moves a governed object; null when it does not.
 * `subject` names the identity in the message.
 */
export function governedRenameRefusal(
  analyses: readonly StatementAnalysis[],
  subject: string,
  rules: () => GovernedRules,
  catalog: CatalogSnapshot | null,
  former: FormerNames,
): { message: string; hint: string } | null {
  const targets = analyses.flatMap((a) => a.ddl.filter((d) => d.action === 'rename' || d.newSchema !== undefined || d.links !== undefined));
  if (targets.length === 0) return null;
  const g = new Governance(rules(), catalog, former);
  for (const d of targets) {
    if (d.links) {
      const hit = g.link(d.links.child);
      if (!hit) continue;
      const { child, parent } = d.links;
      return {
        message: `pgwarden: ${subject} may not make ${hit.what} a child of ${qualified(parent.schema, parent.name)} (INHERIT / ATTACH PARTITION): ${hit.rule.label} governs it, and a scan of ${qualified(parent.schema, parent.name)} would return its rows under that table's names`,
        hint: `Rules follow names: the rows of ${qualified(child.schema, child.name)} read through a parent would escape them. Make such a link directly on the database, with rules for the parent's columns in the same change.`,
      };
    }
    const hit = g.target(d);
    if (!hit) continue;
    const verb = d.newSchema !== undefined ? `move ${hit.what} to schema ${qualified(d.newSchema)}` : `rename ${hit.what}`;
    return {
      message: `pgwarden: ${subject} may not ${verb}: ${hit.rule.label} governs it, and rules follow names`,
      hint: 'Rename it directly on the database and update the rule to the new name in the same change; renames through the gateway of objects a masking or deny rule governs are refused.',
    };
  }
  return null;
}

/**
 * Rules naming, without wildcards, a column or relation the catalog does not have: after a
 * rename made directly on the database while no gateway was running (the record of former names
 * is lost with the process), such a rule governs nothing. One sentence per rule, for the log.
 */
export function unboundRules(rules: GovernedRules, catalog: CatalogSnapshot): string[] {
  const out: string[] = [];
  for (const r of rules.columns) {
    if (r.pattern.wild) continue;
    const [s, t, c] = r.pattern.parts.map((p) => p.text);
    const rel = catalog.relations.get(`${s}.${t}`);
    if (!rel) out.push(`${r.label}: relation ${qualified(s, t)} does not exist`);
    else if (!rel.columns.some((x) => x.name === c)) out.push(`${r.label}: ${qualified(s, t)} has no column ${qualified(c)}`);
  }
  for (const r of rules.relations) {
    if (r.pattern.wild) continue;
    const [s, t] = r.pattern.parts.map((p) => p.text);
    if (!catalog.relations.has(`${s}.${t}`)) out.push(`${r.label}: relation ${qualified(s, t)} does not exist`);
  }
  return out;
}
