/**
 * Result sets as a model reads them: rows as objects keyed by column name, with the type name of
 * each column. Cells arrive in PostgreSQL's text format; booleans, small integers, floats and JSON
 * become their JSON equivalents, everything else (int8, numeric, dates, …) stays the server's text
 * so that no precision is lost. Masked cells are whatever the pipeline put there (text).
 */
import type { FieldDescription } from '../protocol/index.ts';

/** Names of the built-in types (pg_type.dat OIDs, stable across PostgreSQL versions). */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'boolean'],
  [17, 'bytea'],
  [18, '"char"'],
  [19, 'name'],
  [20, 'bigint'],
  [21, 'smallint'],
  [23, 'integer'],
  [24, 'regproc'],
  [25, 'text'],
  [26, 'oid'],
  [114, 'json'],
  [142, 'xml'],
  [650, 'cidr'],
  [700, 'real'],
  [701, 'double precision'],
  [705, 'unknown'],
  [774, 'macaddr8'],
  [790, 'money'],
  [829, 'macaddr'],
  [869, 'inet'],
  [1000, 'boolean[]'],
  [1001, 'bytea[]'],
  [1005, 'smallint[]'],
  [1007, 'integer[]'],
  [1009, 'text[]'],
  [1014, 'character[]'],
  [1015, 'character varying[]'],
  [1016, 'bigint[]'],
  [1021, 'real[]'],
  [1022, 'double precision[]'],
  [1042, 'character'],
  [1043, 'character varying'],
  [1082, 'date'],
  [1083, 'time'],
  [1114, 'timestamp'],
  [1115, 'timestamp[]'],
  [1182, 'date[]'],
  [1184, 'timestamptz'],
  [1185, 'timestamptz[]'],
  [1186, 'interval'],
  [1231, 'numeric[]'],
  [1266, 'timetz'],
  [1560, 'bit'],
  [1562, 'bit varying'],
  [1700, 'numeric'],
  [2205, 'regclass'],
  [2206, 'regtype'],
  [2249, 'record'],
  [2278, 'void'],
  [2950, 'uuid'],
  [2951, 'uuid[]'],
  [3614, 'tsvector'],
  [3802, 'jsonb'],
  [3807, 'jsonb[]'],
  [4089, 'regnamespace'],
]);

export function typeName(oid: number): string {
  return TYPE_NAMES.get(oid) ?? `oid ${oid}`;
}

export interface Column {
  name: string;
  type: string;
}

/** Column headers, with repeated names made unique (`?column?`, `?column?_2`) so rows can be objects. */
export function columnsOf(fields: readonly FieldDescription[]): Column[] {
  const seen = new Map<string, number>();
  return fields.map((f) => {
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    return { name: n === 1 ? f.name : `${f.name}_${n}`, type: typeName(f.typeOid) };
  });
}

/** One text cell as a JSON value for its type. */
export function cellValue(text: string | null, typeOid: number): unknown {
  if (text === null) return null;
  switch (typeOid) {
    case 16:
      return text === 't' ? true : text === 'f' ? false : text;
    case 21:
    case 23:
    case 26:
      return Number(text);
    case 700:
    case 701: {
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case 114:
    case 3802:
      try {
        return JSON.parse(text) as unknown;
      } catch {
        // A masked JSON cell is no longer JSON: hand it over as the text it is.
        return text;
      }
    default:
      return text;
  }
}

export function rowObjects(columns: readonly Column[], fields: readonly FieldDescription[], rows: readonly (string | null)[][]): Record<string, unknown>[] {
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) o[columns[i].name] = cellValue(r[i] ?? null, fields[i].typeOid);
    return o;
  });
}
