/**
 * What a prepared statement promised its client, for the transaction lease that prepares the
 * client's statement again on another server connection (see transaction-lease.ts).
 *
 * PostgreSQL fixes a protocol-level statement's result row type when it is prepared
 * (`CompleteCachedPlan(..., fixed_result = true)`). When the statement is used after its tables
 * changed, `RevalidateCachedQuery` (plancache.c) analyses it again with the parameter types it had
 * and compares the new result tuple descriptor with the old one (`equalTupleDescs`): a different
 * number of columns, or a column of another name, type, typmod or collation, or rows where there
 * were none (or none where there were rows), fails the Bind (and the Describe of a statement that
 * had rows) with 0A000 `cached plan must not change result type`. The table a column comes from
 * is not compared: a table dropped and made again with the same columns is fine.
 *
 * A RowDescription shows all of that but the collation; `resultShape` keeps exactly those parts.
 */
import { BE, decodeRowDescription, FE, FIELD, Writer } from '../protocol/index.ts';

/**
 * The parts of a RowDescription PostgreSQL compares: each column's name, type and typmod, in
 * order (not the table and column it comes from, nor the format a portal asked for).
 */
export function resultShape(rowDescription: Buffer): string {
  return JSON.stringify(decodeRowDescription(rowDescription).map((f) => [f.name, f.typeOid, f.typeMod]));
}

/**
 * The Parse `parse` with the parameter types of a ParameterDescription (the types the server gave
 * the statement when it was first prepared, including those it inferred): prepared with them
 * elsewhere, the statement is analysed as PostgreSQL analyses it again, with its old types.
 */
export function withParamTypes(parse: Buffer, parameterDescription: Buffer): Buffer {
  if (parse[0] !== FE.Parse) throw new Error('not a Parse message');
  // Parse: name, text, then int16 count and the types; ParameterDescription's body is the same
  // count and types.
  const textEnd = parse.indexOf(0, parse.indexOf(0, 5) + 1) + 1;
  if (textEnd <= 0 || textEnd > parse.length) throw new Error('malformed Parse message');
  const types = parameterDescription.subarray(5);
  const out = Buffer.allocUnsafe(textEnd + types.length);
  parse.copy(out, 0, 0, textEnd);
  types.copy(out, textEnd);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/**
 * PostgreSQL's error for a statement whose result type changed since it was prepared, with the
 * source fields clients look at (postgres.js prepares the statement again when the routine is
 * RevalidateCachedQuery).
 */
export const RESULT_TYPE_CHANGED: Buffer = new Writer(160)
  .message(BE.ErrorResponse)
  .byte(FIELD.Severity)
  .cstring('ERROR')
  .byte(FIELD.SeverityV)
  .cstring('ERROR')
  .byte(FIELD.Code)
  .cstring('0A000')
  .byte(FIELD.Message)
  .cstring('cached plan must not change result type')
  .byte(FIELD.File)
  .cstring('plancache.c')
  .byte(FIELD.Line)
  .cstring('722') // PostgreSQL 15's
  .byte(FIELD.Routine)
  .cstring('RevalidateCachedQuery')
  .byte(0)
  .end();
