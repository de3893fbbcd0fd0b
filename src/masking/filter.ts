/**
 * Inference through predicates: a masked column used in WHERE, JOIN, GROUP BY or ORDER BY can
 * leak its value without ever being returned (`WHERE ssn LIKE '1%'` finds the first digit, a
 * range bisects it, ORDER BY sorts by it). Each rule says how its column may be used:
 * - `deny`: not at all;
 * - `equality` (default): only comparisons with a value the client already has — `=`, `<>`,
 *   `IN`, `NOT IN`, `= ANY`, `IS [NOT] DISTINCT FROM`, `IS [NOT] NULL`, and joins by equality.
 *   Each answers one yes/no question per value the client supplies: a lookup (`email = $1`), not
 *   an extraction. A negation tells exactly as much as its equality, so it passes too. Patterns,
 *   ranges, ordering, grouping and functions of the column are refused;
 * - `allow`: anything.
 * `allow_flows: [order]` or `[group]` on the rule allows ordering or grouping by the column
 * whatever the filter mode. The uses come from the analysis, which follows values through
 * derived tables, subqueries and output aliases (`ORDER BY 1`, `GROUP BY alias`).
 */
import { qualified } from '../policy/pattern.ts';
import { KEY_CHECK } from '../sql/index.ts';
import type { ColumnUse } from '../sql/types.ts';
import type { MaskRule, MaskingScope } from './types.ts';

const EQUALITY = new Set(['=', '<>', '!=', 'in', 'not in', '= any', '<> any', 'is distinct from', 'is not distinct from', 'is null', 'is not null', KEY_CHECK]);

/**
 * Operators written as symbols or keywords (`~`, `like`, `is null`, `not between`); anything else
 * the analysis reports is a function name (a single identifier).
 */
const KEYWORD_OPERATORS = /^(like|ilike|in|between|nullif)$|[^a-z0-9_$]/;

const VERB: Record<ColumnUse['use'], string> = {
  filter: 'filter on',
  join: 'join on',
  group: 'group by',
  order: 'order by',
};

function how(use: ColumnUse): string {
  if (use.use === 'group' || use.use === 'order') return '';
  if (use.operator === undefined) return ' inside an expression';
  if (use.operator === KEY_CHECK) return ' by writing a value a unique index, exclusion constraint or foreign key compares with the stored ones';
  return KEYWORD_OPERATORS.test(use.operator) ? ` with ${use.operator.toUpperCase()}` : ` inside ${use.operator}()`;
}

/** How a value computed by user code is named in refusals (see `USER_CODE`). */
export const USER_CODE_VALUE = 'a value computed by code made in the database';

/**
 * A value computed by user code (a function, operator or cast made in the database: `ANY_SOURCE`
 * in the analysis) may be any stored value: read directly it is masked whole (plan.ts), and in a
 * predicate or a flow it is governed as a masked column under the default rule — equality
 * lookups only, no other flow.
 */
export const USER_CODE: Pick<MaskRule, 'filter' | 'allowFlows'> = { filter: 'equality', allowFlows: new Set() };

/** Whether a use or a flow's source is a value computed by user code (`ANY_SOURCE`). */
export function isUserCodeValue(s: { schema: string; table?: string; name?: string; column: string }): boolean {
  return s.schema === '*' && (s.table ?? s.name) === '*' && s.column === '*';
}

/**
 * Every column of a relation the catalog does not know (`*`: its whole row used in a predicate,
 * `t::text LIKE …`): any of them may be masked, so it is governed as a column whose rule allows
 * no use in predicates.
 */
const UNKNOWN_COLUMNS: Pick<MaskRule, 'filter' | 'allowFlows'> = { filter: 'deny', allowFlows: new Set() };

/** The first use of a masked column its rule does not allow. */
function firstRefused(scope: MaskingScope, uses: readonly ColumnUse[]): { use: ColumnUse; rule: Pick<MaskRule, 'filter' | 'allowFlows'>; column: string } | null {
  if (!scope.hasRules) return null;
  for (const u of uses) {
    if (u.column === '*' && !isUserCodeValue({ schema: u.relation.schema, name: u.relation.name, column: u.column })) {
      if (scope.relationSensitive(u.relation.schema, u.relation.name)) return { use: u, rule: UNKNOWN_COLUMNS, column: qualified(u.relation.schema, u.relation.name, '*') };
      continue;
    }
    const userCode = isUserCodeValue({ schema: u.relation.schema, name: u.relation.name, column: u.column });
    const rule = userCode ? USER_CODE : scope.ruleFor(u.relation.schema, u.relation.name, u.column);
    if (!rule) continue;
    // `allow_flows: [order]` / `[group]` opens ordering or grouping without opening patterns.
    if ((u.use === 'order' || u.use === 'group') && rule.allowFlows.has(u.use)) continue;
    switch (rule.filter) {
      case 'allow':
        continue;
      case 'deny':
        return { use: u, rule, column: userCode ? USER_CODE_VALUE : qualified(u.relation.schema, u.relation.name, u.column) };
      case 'equality':
        if ((u.use === 'filter' || u.use === 'join') && u.operator !== undefined && EQUALITY.has(u.operator)) continue;
        return { use: u, rule, column: userCode ? USER_CODE_VALUE : qualified(u.relation.schema, u.relation.name, u.column) };
    }
  }
  return null;
}

/**
 * The refusal for the first use of a masked column its rule does not allow, or null. `subject`
 * names the identity in the message (`pgwarden: analyst may not filter on masked column
 * public.customers.ssn with LIKE`).
 */
export function filterRefusal(scope: MaskingScope, uses: readonly ColumnUse[], subject: string = scope.subject): string | null {
  const r = firstRefused(scope, uses);
  if (!r) return null;
  if (r.rule === UNKNOWN_COLUMNS) {
    return `pgwarden: ${subject} may not ${VERB[r.use.use]} the columns of ${qualified(r.use.relation.schema, r.use.relation.name)}${how(r.use)}; the gateway does not know its columns, and masked ones may be among them`;
  }
  const what = r.column === USER_CODE_VALUE ? `pgwarden: ${subject} may not ${VERB[r.use.use]} ${r.column}${how(r.use)}, which may be any stored value, masked ones among them` : `pgwarden: ${subject} may not ${VERB[r.use.use]} masked column ${r.column}${how(r.use)}`;
  return r.rule.filter === 'deny' ? `${what}: its masking rule allows no filtering, joining, grouping or ordering on it` : `${what}; only equality lookups (=, IN, IS NULL) are allowed on it`;
}

/**
 * The hint for `filterRefusal`'s refusal: what the column's rule does allow, so the client can
 * rewrite the statement (`Compare public.customers.email only with =, <>, IN …`).
 */
export function filterRefusalHint(scope: MaskingScope, uses: readonly ColumnUse[]): string | null {
  const r = firstRefused(scope, uses);
  if (!r) return null;
  if (r.rule === UNKNOWN_COLUMNS) return 'Name the columns you compare, each by name: the whole row of a relation the gateway does not know may hold masked columns.';
  const opened = (['order', 'group'] as const).filter((f) => r.rule.allowFlows.has(f)).map((f) => (f === 'order' ? 'ORDER BY' : 'GROUP BY'));
  const also = opened.length ? ` ${opened.join(' and ')} it is allowed too (allow_flows).` : '';
  const select = r.column === USER_CODE_VALUE ? 'Select it to read it: it comes back masked.' : `Select ${r.column} by name to read it: it comes back masked.`;
  if (r.rule.filter === 'deny') return `${select} Its masking rule (filter: deny) allows no WHERE, JOIN, GROUP BY or ORDER BY on it, not even =.${also}`;
  return `${select} In WHERE and JOIN compare it only with a value you already have: =, <>, IN, NOT IN, = ANY, IS [NOT] DISTINCT FROM, IS [NOT] NULL (filter: equality); no LIKE, ranges, functions of it${opened.length ? '' : ', GROUP BY or ORDER BY'}.${also}`;
}
