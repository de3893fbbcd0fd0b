/**
 * Inference through computation, error messages and writes: a masked value may flow only
 * (a) to an output column, through functions that cannot fail on it or change the number of rows,
 *     where it comes back masked; and
 * (b) into predicates, as its rule's `filter` mode allows (filter.ts).
 * Every other position its value reaches is a flow (sql/flows.ts, `StatementAnalysis.flows`)
 * refused here unless the rule's `allow_flows` names it:
 * - `limit`: LIMIT / OFFSET / TABLESAMPLE (`LIMIT (SELECT ascii(substr(ssn, 1, 1)) …)` counts rows);
 * - `set_returning`: arguments of set-returning functions (`generate_series(1, ascii(…))`,
 *   `regexp_matches(ssn, '^9')`);
 * - `case`: conditions outside a predicate: CASE WHEN (`count(CASE WHEN ssn LIKE '9%' THEN 1 END)`), and AND / OR
 *   outside a predicate, which decide whether their other arguments run
 *   (`(ssn = '…') AND 1 / (id - id) = 1` fails or not);
 * - `aggregate`: aggregates other than count of the plain column (`min(ssn)`, `max(email)`);
 * - `window`: window functions, their PARTITION BY and ORDER BY;
 * - `order`, `group`, `distinct`: ORDER BY / GROUP BY (also through an alias or position) and
 *   SELECT DISTINCT (the `filter: allow` mode opens these too);
 * - `set_operation`: UNION / INTERSECT / EXCEPT operands (UNION ALL compares nothing);
 * - `function`: functions, operators and casts that can fail on the value (`ssn::regclass`,
 *   `1 / (…)`, `sqrt`, `chr`, `nextval(ssn)`, `current_setting(ssn)`): errors echo values and
 *   failing or not is one bit per query;
 * - `write`: INSERT / UPDATE / MERGE values, INSERT … SELECT, SELECT INTO, CREATE TABLE AS,
 *   CREATE [MATERIALIZED] VIEW: a value masked for an identity may not be stored anywhere it can
 *   then read or hand on. Not even into its own column: a stored value can fail a constraint,
 *   a domain or a trigger there, and that failure (and its DETAIL) depends on the value;
 * - `setting`: set_config(…) (read back with current_setting or a ParameterStatus).
 * A parameter of EXECUTE goes somewhere the analysis cannot see: refused, whatever the rule says.
 */
import { qualified } from '../policy/pattern.ts';
import type { FlowSink, StatementAnalysis, ValueFlow } from '../sql/types.ts';
import { filterRefusal, filterRefusalHint, isUserCodeValue, USER_CODE, USER_CODE_VALUE } from './filter.ts';
import { refusalFor } from './plan.ts';
import type { FlowName } from './schema.ts';
import type { MaskingScope, MaskRule } from './types.ts';

/** Sinks the `filter: allow` mode opens (they ask of the value what a predicate asks). */
const FILTER_ALLOWS: ReadonlySet<FlowSink> = new Set(['distinct']);

function where(f: ValueFlow): string {
  const d = f.detail;
  switch (f.sink) {
    case 'limit':
      return `in ${d ?? 'LIMIT'}: it would decide how many rows come back`;
    case 'set_returning':
      return `in the arguments of set-returning function ${d ?? ''}: it would decide how many rows come back`;
    case 'case':
      return `in a condition (${d ?? 'CASE WHEN'}): it would decide which value comes back or what runs`;
    case 'aggregate':
      return `in aggregate ${d ?? ''}: only count() of the column itself is allowed`;
    case 'window':
      return `in a window function (${d ?? 'OVER'})`;
    case 'distinct':
      return 'in SELECT DISTINCT';
    case 'set_operation':
      return `in ${d ?? 'a set operation'}: it compares the values`;
    case 'function':
      return `in ${d ?? 'a function'}, which can fail on the value or reveal it otherwise (errors echo values)`;
    case 'write':
      return `in a write to ${d ?? 'another relation'}`;
    case 'setting':
      return `in a setting (${d ?? 'set_config()'})`;
    case 'parameter':
      return 'as a parameter of EXECUTE';
  }
}

function allowed(rule: Pick<MaskRule, 'filter' | 'allowFlows'>, f: ValueFlow): boolean {
  switch (f.sink) {
    case 'parameter':
      return false;
    default:
      if (rule.filter === 'allow' && FILTER_ALLOWS.has(f.sink)) return true;
      return rule.allowFlows.has(f.sink as FlowName);
  }
}

/** The refusal for the first flow of a masked column its rule does not allow, or null. */
export function flowRefusal(scope: MaskingScope, flows: readonly ValueFlow[] | undefined, subject: string = scope.subject): string | null {
  if (!flows || !scope.hasRules) return null;
  for (const f of flows) {
    const s = f.source;
    // `*`: columns of a relation the catalog does not know; any of them may be masked.
    if (s.column === '*' && scope.relationSensitive(s.schema, s.table)) {
      return `pgwarden: ${subject} may not use the columns of ${qualified(s.schema, s.table)} ${where(f)}; the gateway does not know its columns, and masked ones may be among them`;
    }
    if (isUserCodeValue(s)) {
      if (allowed(USER_CODE, f)) continue;
      return `pgwarden: ${subject} may not use ${USER_CODE_VALUE} ${where(f)}: it may be any stored value, masked ones among them`;
    }
    const rule = scope.ruleFor(s.schema, s.table, s.column);
    if (!rule || allowed(rule, f)) continue;
    const hint = f.sink === 'parameter' ? '' : ` (its masking rule can allow it with allow_flows: [${f.sink}])`;
    return `pgwarden: ${subject} may not use masked column ${qualified(s.schema, s.table, s.column)} ${where(f)}${hint}`;
  }
  return null;
}

/** Statements nested deeper than this (EXPLAIN of PREPARE of …) are refused by the policy anyway. */
const MAX_NESTING = 8;

/**
 * Masking's refusal of one statement before it runs, or null: a masked column packed into a
 * whole row / JSON / aggregate (refusalFor), a predicate its filter mode forbids (filterRefusal),
 * or another flow its rule does not allow (flowRefusal) — in the statement and every statement
 * it contains (PREPARE, DECLARE, EXPLAIN, CREATE TABLE AS).
 */
export function statementRefusal(scope: MaskingScope, a: StatementAnalysis): string | null {
  if (!scope.hasRules) return null;
  const first = refusalFor(scope, a.outputs ?? a.inner?.outputs);
  if (first) return first;
  let depth = 0;
  for (let cur: StatementAnalysis | undefined = a; cur !== undefined && depth <= MAX_NESTING; cur = cur.inner, depth++) {
    const r = filterRefusal(scope, cur.columnUses) ?? flowRefusal(scope, cur.flows);
    if (r) return r;
  }
  return null;
}

/**
 * The hint for `statementRefusal`'s refusal when it is a filter its rule forbids: what the rule
 * allows on that column. Null for other refusals (the caller's general hint applies).
 */
export function statementRefusalHint(scope: MaskingScope, a: StatementAnalysis): string | null {
  if (!scope.hasRules || refusalFor(scope, a.outputs ?? a.inner?.outputs)) return null;
  let depth = 0;
  for (let cur: StatementAnalysis | undefined = a; cur !== undefined && depth <= MAX_NESTING; cur = cur.inner, depth++) {
    if (filterRefusal(scope, cur.columnUses)) return filterRefusalHint(scope, cur.columnUses);
    if (flowRefusal(scope, cur.flows)) return null;
  }
  return null;
}
