/**
 * Server errors and notices that echo values. PostgreSQL puts column values in messages a client
 * sees without ever selecting them:
 * - unique / exclusion / foreign-key violations (class 23): `DETAIL: Key (email)=(jane@x.com)
 *   already exists.`, and building a unique index or an exclusion constraint over rows that
 *   violate it: `Key (email)=(…) is duplicated.`, `Key (…)=(…) conflicts with key (…)=(…).`; not-null and check violations: `DETAIL: Failing row contains (…).`;
 * - data exceptions (class 22): `invalid input syntax for type integer: "123-45-6789"` after a
 *   cast of a masked text, `value "…" is out of range for type …`, the bytes of an invalid
 *   byte sequence (`0xe9 0x20`), a JSON parse DETAIL
 *   `Token "…" is invalid.` and CONTEXT `JSON data, line 1: …`.
 * Violations are scrubbed when their table (the `s` and `t` fields) has a masked column named in
 * the key, or when the table is not named; data exceptions whenever any rule applies to the
 * identity, since the value's column cannot be known. With content detection on, what the
 * detectors find in the message, detail, hint and context is masked too.
 *
 * Messages raised by code in the database (a function, a trigger, a rule's function: `RAISE
 * NOTICE '%', NEW`, `RAISE EXCEPTION … USING DETAIL = …`) can carry any value that code reads,
 * whoever fired it; their context names the code (`PL/pgSQL function f() line 3 at RAISE`, `SQL
 * function "f" statement 1`). When masking rules apply, their message, detail and hint are
 * withheld, and the text of the SQL statements the context quotes (dynamic SQL built from values)
 * and of the internal query (field `q`) too; the SQLSTATE, the severity and the code's location stay.
 */
import { maskDetections } from './compile.ts';
import type { MaskingScope } from './types.ts';

const HIDDEN = '***';

/** Field letters of ErrorResponse / NoticeResponse. */
const F = { code: 'C', message: 'M', detail: 'D', hint: 'H', where: 'W', internalQuery: 'q', schema: 's', table: 't' } as const;

const KEY_DETAIL = /^Key \((.+?)\)=\((.*)\)( already exists\.| is duplicated\.| is not present in table .*| is still referenced from table .*)$/s;
const EXCLUSION_DETAIL = /^Key \((.+?)\)=\((.*?)\) conflicts with (existing )?key \((.+?)\)=\((.*)\)\.$/s;
const FAILING_ROW = /^Failing row contains \(.*\)\.$/s;
const QUOTED = /"(?:[^"]|"")*"/g;
/** `invalid byte sequence for encoding "UTF8": 0xe9 0x20` echoes bytes of the value. */
const HEX_BYTES = /0x[0-9a-f]{2}(?: 0x[0-9a-f]{2})*/g;
/**
 * A context line naming database code: `PL/pgSQL function f() line 3 at RAISE`, `SQL function "f"
 * …`. Not a DO block's own code (`inline_code_block`): the client sent it, and a policy that
 * allows DO blocks lets them read what they like.
 */
const DATABASE_CODE = /^(?:PL\/\w+ function (?!inline_code_block\b)|SQL function ")/m;
/** A context line quoting a statement run by that code, values included. */
const QUOTED_STATEMENT = /^(SQL statement |PL\/pgSQL assignment )".*"$/gm;
export const WITHHELD_CODE_MESSAGE = `${HIDDEN} (raised by database code; withheld because masking rules apply to this session)`;

/**
 * Every identifier in a key's column list. An expression index reports its expression
 * (`lower(email::text)`): any masked column named inside it counts.
 */
function keyColumns(list: string): string[] {
  const out: string[] = [];
  for (const m of list.matchAll(/"((?:[^"]|"")*)"|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/g)) {
    out.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[0].toLowerCase());
  }
  return out;
}

export function scrubServerError(fields: Readonly<Record<string, string>>, scope: MaskingScope): Record<string, string> | null {
  if (scope.empty) return null;
  const out: Record<string, string> = { ...fields };
  let changed = false;
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== out[k]) {
      out[k] = v;
      changed = true;
    }
  };
  const code = fields[F.code] ?? '';

  if (scope.hasRules) {
    const schema = fields[F.schema];
    const table = fields[F.table];
    const known = schema !== undefined && table !== undefined;
    const masked = (cols: string[]) => !known || cols.some((c) => scope.ruleFor(schema, table, c) !== undefined);
    const detail = fields[F.detail];
    if (detail !== undefined) {
      let m: RegExpExecArray | null;
      if ((m = EXCLUSION_DETAIL.exec(detail)) && (masked(keyColumns(m[1])) || masked(keyColumns(m[4])))) {
        set(F.detail, `Key (${m[1]})=(${HIDDEN}) conflicts with ${m[3] ?? ''}key (${m[4]})=(${HIDDEN}).`);
      } else if ((m = KEY_DETAIL.exec(detail)) && masked(keyColumns(m[1]))) {
        set(F.detail, `Key (${m[1]})=(${HIDDEN})${m[3]}`);
      } else if (FAILING_ROW.test(detail) && (!known || scope.relationSensitive(schema, table))) {
        set(F.detail, `Failing row contains (${HIDDEN}).`);
      }
    }
    const where = fields[F.where];
    if (where !== undefined && DATABASE_CODE.test(where)) {
      set(F.message, WITHHELD_CODE_MESSAGE);
      if (fields[F.detail] !== undefined) set(F.detail, HIDDEN);
      if (fields[F.hint] !== undefined) set(F.hint, HIDDEN);
      set(F.where, where.replace(QUOTED_STATEMENT, `$1"${HIDDEN}"`));
      // The text of a query the code ran (SPI) when it failed: built from any value.
      if (fields[F.internalQuery] !== undefined) set(F.internalQuery, HIDDEN);
    }
    if (code.startsWith('22')) {
      for (const k of [F.message, F.detail]) {
        const v = out[k];
        if (v !== undefined) set(k, v.replace(QUOTED, `"${HIDDEN}"`).replace(HEX_BYTES, HIDDEN));
      }
      const where = out[F.where];
      if (where !== undefined) set(F.where, where.replace(/^(JSON data, line \d+: ).*$/gm, `$1${HIDDEN}`));
    }
  }

  if (scope.detect) {
    for (const k of [F.message, F.detail, F.hint, F.where]) {
      const v = out[k];
      if (v !== undefined) set(k, maskDetections(scope.detect, v, scope.compiled.key));
    }
  }
  return changed ? out : null;
}
