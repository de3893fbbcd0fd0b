/**
 * The index of user code a statement can reach without naming it (`PlantedCode`), built once per
 * snapshot from the loaded functions, operators and casts. Pure, so the loader and the test
 * fixture build it the same way.
 */
import type { CatalogCast, CatalogFunction, CatalogOperator, PlantedCode, TypeSet } from './types.ts';

/** OIDs below this were assigned by initdb (PostgreSQL's FirstNormalObjectId). */
export const FIRST_NORMAL_OID = 16384;

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

export function buildPlanted(functions: Map<string, CatalogFunction[]>, operators: readonly CatalogOperator[], casts: readonly CatalogCast[]): PlantedCode {
  const fnByName = new Map<string, CatalogFunction[]>();
  for (const overloads of functions.values()) for (const f of overloads) if (f.origin === 'user') push(fnByName, f.name, f);
  const ops = new Map<string, CatalogOperator[]>();
  for (const o of operators) push(ops, o.name, o);
  const castsByTypeName = new Map<string, CatalogCast[]>();
  const castsByColumnType = new Map<number, CatalogCast[]>();
  const castsFromParameters: CatalogCast[] = [];
  const everywhere: CatalogCast[] = [];
  const byName = (c: CatalogCast, t: TypeSet) => {
    for (const n of t.names) if (!castsByTypeName.get(n.name)?.includes(c)) push(castsByTypeName, n.name, c);
  };
  const byColumn = (c: CatalogCast, t: TypeSet) => {
    for (const oid of t.oids) if (!castsByColumnType.get(oid)?.includes(c)) push(castsByColumnType, oid, c);
  };
  for (const c of casts) {
    const userSource = c.source >= FIRST_NORMAL_OID;
    const userTarget = c.target >= FIRST_NORMAL_OID;
    if (!userSource && !userTarget && c.context !== 'e') everywhere.push(c);
    if (c.context === 'e' && userTarget) {
      byName(c, c.targetTypes);
      continue;
    }
    const side = userSource ? c.sourceTypes : c.targetTypes;
    byName(c, side);
    byColumn(c, side);
    if (userSource) castsFromParameters.push(c);
  }
  return { functions: fnByName, operators: ops, castsByTypeName, castsByColumnType, castsFromParameters, everywhere };
}
