/**
 * The temporary relations a statement creates or drops, applied to `temp` (names): CREATE TEMP
 * TABLE / VIEW / SEQUENCE, CREATE TABLE pg_temp.x, CREATE TEMP TABLE … AS, SELECT … INTO TEMP add
 * one; DROP of a name in pg_temp, DISCARD TEMP and DISCARD ALL remove them. A name added for a
 * statement that then fails is harmless: it is decided as pg_temp's (the server then finds no such
 * table), and refused where a permanent relation has the name too.
 */
import type { StatementAnalysis } from './types.ts';

const TEMP_RELATION_TYPES = new Set(['table', 'view', 'sequence']);

export function followTempRelations(temp: Set<string>, a: StatementAnalysis): void {
  if (a.command === 'discard all' || a.command === 'discard temp') temp.clear();
  for (const d of a.ddl) {
    if (d.schema !== 'pg_temp' || d.name === undefined || !TEMP_RELATION_TYPES.has(d.objectType)) continue;
    if (d.action === 'create') temp.add(d.name);
    else if (d.action === 'drop') temp.delete(d.name);
  }
  if (a.inner) followTempRelations(temp, a.inner);
}
