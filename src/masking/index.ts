/**
 * masking/ — sensitive columns never leave the gateway in clear for identities that must see them
 * masked, whatever shape the query takes; everything else streams through as the same bytes.
 *
 * config load ─► maskingSchema (zod, top-level `masking:` in config/schema.ts) ─► compileMasking
 * (patterns compiled once) ─► per connection: maskingFor(compiled, identity, formerNames) →
 * MaskingScope (the rules whose except/only let them apply, matched against a column's current
 * name and every name the catalog saw it have before a rename) ─► per statement, at decision time: refusalFor(scope,
 * outputs) (masked column inside a whole row / JSON / array or string aggregate → refuse) and
 * filterRefusal(scope, columnUses) (inference through predicates) and flowRefusal(scope, flows)
 * (LIMIT, aggregates, CASE, functions that can fail, writes …), all three in
 * statementRefusal(scope, analysis) ─► per result set:
 * planFor(scope, RowDescription fields, outputs, relationsByOid, Bind result formats) → MaskPlan
 * (or planForCopy for COPY TO STDOUT) ─► per row: maskDataRow(frame, plan) /
 * maskCopyData(frame, plan, format, state) on raw bytes ─► per ErrorResponse / NoticeResponse:
 * scrubServerError(fields, scope). Content detection (detect-encodings.ts) masks what it finds in
 * any column no rule covers, in every encoding the value can take (text, bytea, JSON, arrays …).
 *
 * Wiring, per result set:
 *   const plan = planFor(scope, decodeRowDescription(rd), analysis.outputs,
 *     (oid) => catalog.relationsByOid.get(oid),            // a CatalogRelation is a RelationInfo
 *     bind?.resultFormats,                                 // omitted: RowDescription's own codes
 *     analysis.tables.map((t) => ({ schema: t.relation.schema, name: t.relation.name })));
 *   if ('refuse' in plan) → ErrorResponse 42501 with plan.refuse; else per 'D' frame:
 *   const out = maskDataRow(frame, plan);  // out === frame: forward the original bytes
 * COPY TO STDOUT: planForCopy(scope, columns, 'text' | 'csv' | 'binary'), then
 *   createCopyState(format, { delimiter, null, quote, escape, header }) and per 'd' frame
 *   maskCopyData(frame, plan, format, state) (an empty Buffer: send nothing yet); at CopyDone
 *   send flushCopy(plan, format, state) when it is not empty.
 *
 * Pure: no sockets, files, loggers or clocks. Invariants the caller MUST keep:
 * - plan every result set from its own RowDescription (a portal's formats come from its Bind);
 * - call statementRefusal (refusalFor, filterRefusal, flowRefusal) before the statement runs: planFor refuses opaque outputs
 *   too, but by then the statement has run;
 * - forward a frame as is only when maskDataRow / maskCopyData returned the same Buffer;
 * - a ProtocolError thrown by maskDataRow / maskCopyData means the stream cannot be masked: end
 *   the response with an error, never forward the frame.
 */
export { maskingSchema, MASKERS, FILTER_MODES, FLOW_NAMES, type FlowName, DETECT_KINDS, MASKER_OPTIONS, type MaskingConfig, type MaskingInput, type MaskerKind, type FilterMode, type DetectKind, type MaskerOptions } from './schema.ts';
export { compileMasking, maskingFor, selects } from './compile.ts';
export { isUserCodeValue } from './filter.ts';
export { planFor, planForCopy, refusalFor, type RelationInfo, type RelationLookup, type StatementRelation, type CopyColumn } from './plan.ts';
export { maskDataRow, maskDataRowTo, maskDataRowDirect, directGrowth } from './data-row.ts';
export { maskCopyData, flushCopy, createCopyState, type CopyOptions, type CopyState } from './copy.ts';
export { scrubServerError } from './scrub.ts';
export { filterRefusal, filterRefusalHint } from './filter.ts';
export { flowRefusal, statementRefusal, statementRefusalHint } from './flows.ts';
export { detect, luhnValid, ibanValid, type Detection } from './detect.ts';
export { isTextLike, OID as TYPE_OID } from './pg-types.ts';
export type { FormerNameLookup, CellMasker, CompiledMasking, MaskingScope, MaskPlan, MaskRule, MaskerSpec, PlanColumn, PlanRefusal, DetectScope } from './types.ts';
