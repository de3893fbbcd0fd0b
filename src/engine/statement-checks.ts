/**
 * The checks a session's gate runs on an allowed statement after the policy's decision: renames of
 * objects a name-keyed rule governs, and masking's refusals. Built here once, so that the gateway
 * (main.ts, per session) and `pgwarden policy test` (cli/policy-test.ts, per case) wire the very
 * same functions into a `PolicyGate` and cannot drift apart.
 */
import { formerNamesOf } from '../catalog/index.ts';
import type { CatalogSnapshot } from '../catalog/types.ts';
import type { Identity } from '../identity/types.ts';
import { planForCopy, statementRefusal, statementRefusalHint, type CompiledMasking, type MaskingScope } from '../masking/index.ts';
import type { CompiledPolicies } from '../policy/index.ts';
import type { StatementAnalysis } from '../sql/index.ts';
import type { PolicyGateOptions } from './gate.ts';
import { governedRenameRefusal, governedRules } from './governed-renames.ts';
import { viewReadRefusal } from './view-reads.ts';

export interface StatementChecksInput {
  identity: Identity;
  /** The identity's masking for the session (`maskingFor`). */
  masks: MaskingScope;
  /** The configuration's rules as they are now (a reload changes them). */
  masking: () => CompiledMasking;
  policies: () => CompiledPolicies;
  catalog: () => CatalogSnapshot | null;
}

/** ENCODING values that leave COPY rows in UTF-8 (as PostgreSQL cleans a name: lower case, letters and digits). */
const UTF8_NAMES: ReadonlySet<string> = new Set(['utf8', 'unicode', 'sqlascii']);

/** The gate's `maskingRefusal` and `governedRename` for one session. */
export function statementChecks(o: StatementChecksInput): Pick<PolicyGateOptions, 'maskingRefusal' | 'governedRename'> {
  const former = formerNamesOf(o.catalog);
  return {
    maskingRefusal: o.masks.empty ? undefined : (analyses) => viewReadRefusal(o.masks, o.catalog(), analyses) ?? maskingRefusal(o.masks, analyses),
    governedRename: (analyses) => governedRenameRefusal(analyses, o.identity.subject, () => governedRules(o.masking(), o.policies()), o.catalog(), former),
  };
}

/**
 * Masking's refusal of a statement before it runs: masked values packed in whole rows or JSON,
 * filters its rules forbid, or flows into other positions (LIMIT, aggregates, functions that can
 * fail, writes …) they do not allow.
 */
export function maskingRefusal(masks: MaskingScope, analyses: StatementAnalysis[]): { message: string; hint?: string } | null {
  for (const a of analyses) {
    // Binary COPY rows are not read by content detection: whatever they hold would pass.
    if (masks.detect && a.copy?.direction === 'to' && a.copy.format === 'binary' && a.specials.includes('copy_to_stdout')) {
      return { message: `pgwarden: ${masks.subject} may not copy in binary format while content detection applies`, hint: 'Use COPY … (FORMAT text) or (FORMAT csv).' };
    }
    if (a.copy?.direction === 'to' && a.specials.includes('copy_to_stdout') && !masks.empty) {
      // Masking reads COPY rows as UTF-8 text: rows converted to another encoding cannot be
      // masked (a multi-byte character whose second byte is `\` hides a delimiter), and binary
      // rows of a masked column cannot be masked at all. Refused before they run, rather than
      // withheld (or the session ended) once they arrive.
      if (a.copy.encoding !== undefined && !UTF8_NAMES.has(a.copy.encoding.toLowerCase().replace(/[^a-z0-9]/g, ''))) {
        return { message: `pgwarden: ${masks.subject} may not copy in encoding ${a.copy.encoding} while masking applies: masked values are found in UTF-8 text`, hint: 'Leave out the ENCODING option (rows come in UTF-8).' };
      }
      // In text format PostgreSQL writes a value equal to a custom NULL string as it is, so such
      // a field cannot be told from NULL: it would pass unmasked, an answer to "is this the
      // value?" (CSV quotes such a value, and `\N` is escaped when it is data).
      if (a.copy.format === 'text' && a.copy.null !== undefined && a.copy.null !== '\\N') {
        return { message: `pgwarden: ${masks.subject} may not copy in text format with a NULL string of its own while masking applies: a value equal to it could not be told from NULL, nor masked`, hint: "Leave out the NULL option, or use (FORMAT csv, NULL '…')." };
      }
      if (a.copy.format === 'binary' && a.outputs) {
        const p = planForCopy(masks, a.outputs.map((output) => ({ output, typeOid: 0 })), 'binary');
        if ('refuse' in p) return { message: p.refuse, hint: 'Masked columns come back masked in text and CSV format.' };
      }
    }
    const r = statementRefusal(masks, a);
    if (r) return { message: r, hint: statementRefusalHint(masks, a) ?? undefined };
  }
  return null;
}
