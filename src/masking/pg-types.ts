/**
 * The built-in type OIDs masking needs to tell apart (pg_type.dat; stable across PostgreSQL
 * versions). A type not listed here is treated as opaque: masked to NULL, never passed in clear.
 */
export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/**
 * Types whose text AND binary representations are the value's characters in the client encoding
 * (`textsend` / `varcharsend` / `bpcharsend` / `namesend` / `unknownsend` all send the raw
 * bytes), so one masker serves both formats. citext has no fixed OID: callers pass its OID when the
 * catalog names it.
 */
const TEXT_LIKE = new Set<number>([OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown]);

export function isTextLike(typeOid: number): boolean {
  return TEXT_LIKE.has(typeOid);
}

export const INT_DIGITS: ReadonlyMap<number, number> = new Map([
  [OID.int2, 5],
  [OID.int4, 10],
  [OID.int8, 19],
]);

/** Result format codes of Bind (and RowDescription's format field). */
export const FORMAT_TEXT = 0;
export const FORMAT_BINARY = 1;

/**
 * The format of column `i` from Bind's result-format codes: none = all text, one = all columns,
 * otherwise one per column. A code other than 0 or 1 is refused by PostgreSQL itself; here it is
 * read as binary, the stricter case (non-text values go to NULL).
 */
export function formatOf(i: number, codes: readonly number[] | undefined, described: number): 0 | 1 {
  const code = codes === undefined ? described : codes.length === 0 ? FORMAT_TEXT : codes.length === 1 ? codes[0] : codes[i];
  return code === FORMAT_TEXT ? FORMAT_TEXT : FORMAT_BINARY;
}
