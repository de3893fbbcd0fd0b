/**
 * The masking of one session, as the result tracker uses it: mask plans built from the server's
 * RowDescription and the statement's provenance, DataRow and CopyData rewriting, and scrubbing of
 * server errors that could echo a masked value.
 *
 * When masking itself refuses a result set that is already streaming (a whole-row or JSON form
 * the decision did not catch), there is no way back: every cell of it is withheld (NULL), which
 * loses data but never leaks it.
 */
import { decodeFields, encodeFieldMap, type FieldDescription } from '../protocol/index.ts';
import type { CatalogSnapshot } from '../catalog/types.ts';
import { snapshotId } from '../sql/index.ts';
import {
  createCopyState,
  flushCopy,
  maskCopyData,
  maskDataRow,
  maskDataRowTo,
  maskDataRowDirect,
  directGrowth,
  planFor,
  planForCopy,
  scrubServerError,
  type CellMasker,
  type MaskingScope,
  type MaskPlan,
} from '../masking/index.ts';
import type { MaskingPort, Outputs, RowPlan } from './results.ts';

/** A cell masker that withholds every value (NULL). */
const WITHHOLD: CellMasker = { label: 'withheld', mask: () => null, fixed: null };

function withholdAll(n: number): MaskPlan {
  return { columns: new Array<CellMasker>(n).fill(WITHHOLD), any: n > 0, described: [], notes: ['withheld: masking refused this result'] };
}

/** Most plans remembered per statement shape (one per distinct RowDescription and result formats). */
const PLANS_PER_SHAPE = 8;

/**
 * What a plan depends on besides the shape, the scope and the catalog: each field's name, table
 * OID, column number, type and format, and the Bind's result formats.
 */
function planKey(fields: readonly FieldDescription[], formats: readonly number[]): string {
  let k = formats.join(',');
  for (const f of fields) k += `\u0000${f.name}\u0001${f.tableOid},${f.attnum},${f.typeOid},${f.format}`;
  return k;
}

export function maskingPort(scope: MaskingScope, catalog: () => CatalogSnapshot | null, onNote?: (note: string) => void): MaskingPort {
  const lookup = (oid: number) => catalog()?.relationsByOid.get(oid);
  const build = (fields: FieldDescription[], shape: Outputs, formats: number[]): { plan: MaskPlan; row: RowPlan | null } => {
    // Rows a write without RETURNING returns come from its relations' rules, which
    // may read anything: every column not proven clean is masked (no relation list to spare them).
    const p = planFor(scope, fields, shape?.outputs as never, lookup, formats, shape?.writes ? undefined : shape?.relations);
    const plan = 'refuse' in p ? withholdAll(fields.length) : p;
    if (!plan.any) return { plan, row: null };
    const growth = directGrowth(plan);
    return {
      plan,
      row: {
        row: (frame) => maskDataRow(frame, plan),
        rowTo: growth === null ? (frame, sink) => maskDataRowTo(frame, plan, sink) : (frame, sink) => maskDataRowDirect(frame, 0, frame.length, plan, growth, sink),
        rowAt: growth === null ? undefined : (src, start, end, sink) => maskDataRowDirect(src, start, end, plan, growth, sink),
      },
    };
  };
  // A prepared statement (or texts sharing a literal key) keeps its shape object: its plan is
  // built once per catalog snapshot and RowDescription, not per execution. Plans are pure data
  // and stateless row functions, so one serves every execution.
  // The memo names a snapshot by its snapshotId, never holds it: a cached statement's shape may
  // outlive many catalog reloads, and each snapshot is megabytes.
  const memo = new WeakMap<object, { snapshot: number; plans: Map<string, { plan: MaskPlan; row: RowPlan | null }> }>();
  return {
    plan(fields: FieldDescription[], shape: Outputs, formats: number[]): RowPlan | null {
      let built: { plan: MaskPlan; row: RowPlan | null };
      if (shape === undefined) built = build(fields, shape, formats);
      else {
        const snapshot = snapshotId(catalog());
        let m = memo.get(shape);
        if (!m || m.snapshot !== snapshot) memo.set(shape, (m = { snapshot, plans: new Map() }));
        const key = planKey(fields, formats);
        const found = m.plans.get(key);
        if (found) built = found;
        else {
          built = build(fields, shape, formats);
          if (m.plans.size >= PLANS_PER_SHAPE) m.plans.clear();
          m.plans.set(key, built);
        }
      }
      for (const n of built.plan.notes) onNote?.(n);
      return built.row;
    },
    copyPlan(shape: Outputs, binary: boolean): RowPlan | null {
      const outputs = shape?.outputs;
      const format = binary ? 'binary' : (shape?.copy?.format ?? 'text');
      // Content detection cannot read binary COPY rows (the decision refuses it): withhold them.
      if (format === 'binary' && scope.detect) return { row: (f) => f, copy: () => Buffer.alloc(0) };
      if (!outputs) {
        // Nothing known of the copied columns: safe only when no relation involved is sensitive.
        const sensitive = (shape?.relations ?? []).some((r) => scope.relationSensitive(r.schema, r.name));
        if (!sensitive) return null;
        return { row: (f) => f, copy: () => Buffer.alloc(0) };
      }
      const p = planForCopy(scope, outputs.map((o) => ({ output: o as never, typeOid: 0 })), format);
      if ('refuse' in p) return { row: (f) => f, copy: () => Buffer.alloc(0) };
      if (!p.any || format === 'binary') return null;
      const textFormat = format === 'csv' ? 'csv' : 'text';
      const state = createCopyState(textFormat, shape?.copy ?? {});
      return { row: (f) => f, copy: (frame) => maskCopyData(frame, p, textFormat, state), finish: () => flushCopy(p, textFormat, state) };
    },
    scrub(frame: Buffer): Buffer | null {
      const fields = decodeFields(frame);
      const out = scrubServerError(fields, scope);
      return out ? encodeFieldMap(frame[0], out) : null;
    },
  };
}
