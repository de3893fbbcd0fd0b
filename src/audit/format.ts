/**
 * Human-readable lines for the CLI: one line per record, a detailed view, a replayed session.
 *
 * Nearly every string of a record was chosen by a client (statement text, application_name,
 * prepared statement names), a token (subject, groups) or the database (error messages, captured
 * values), so each one is escaped (terminal-text.ts) before it reaches the terminal, and a
 * statement printed on several lines has its further lines behind a `|` gutter: no record can
 * print a control sequence or a line that passes for another record's.
 */
import { continued, visible, visibleOneLine } from '../terminal-text.ts';
import type { AuditRecord, ResultCapture, StatementData } from './events.ts';
import type { ReplayStep } from './replay.ts';

export function isoTime(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

const oneLine = (text: string, max = 100): string => visibleOneLine(text, max);
/** Any value of a record on one line, escaped. */
const v = (value: unknown): string => visible(String(value));

interface IdentityData {
  subject?: string;
  issuer?: string;
  groups?: string[];
}

/** `2025-01-02 10:00:00.123  ID  subject  ALLOW  select  SELECT …  → 3 rows, 2 ms` */
export function recordLine(r: AuditRecord, outcome?: AuditRecord): string {
  const d = r.data as Record<string, unknown>;
  const who = (d.identity as IdentityData | undefined)?.subject ?? '-';
  const head = `${isoTime(r.at)}  ${v(r.id)}  ${v(who)}`;
  switch (r.type) {
    case 'statement': {
      const s = d as unknown as StatementData;
      const rule = s.decision.rule ? ` (${v(s.decision.rule)})` : '';
      return `${head}  ${v(s.decision.verdict.toUpperCase())}${rule}  ${oneLine(s.text)}${outcome ? `  → ${outcomeSummary(outcome)}` : ''}`;
    }
    case 'session_start':
      return `${head}  SESSION START ${v(r.sessionId)} db=${v(d.database)} from ${v(d.clientAddress)}${d.applicationName ? ` app=${v(d.applicationName)}` : ''}${d.tls ? ' tls' : ''}`;
    case 'session_end':
      return `${head}  SESSION END ${v(r.sessionId)}: ${v(d.reason)}`;
    case 'statement_end':
      return `${head}  END of ${v(d.id)}: ${outcomeSummary(r)}`;
    case 'event':
      return `${head}  EVENT ${v(d.kind)}${d.actor ? ` by ${v(d.actor)}` : ''} ${oneLine(JSON.stringify(d.details ?? {}), 120)}`;
  }
}

export function outcomeSummary(end: AuditRecord): string {
  const d = end.data as { rows?: number; commandTag?: string; error?: { sqlstate: string; message: string }; durationMs?: number };
  const parts: string[] = [];
  if ((end.data as { outcome?: unknown }).outcome === 'unknown') return `outcome unknown (${v((end.data as { reason?: unknown }).reason ?? 'not recorded')})`;
  if (d.error) parts.push(`ERROR ${v(d.error.sqlstate)} ${oneLine(d.error.message, 80)}`);
  else if (d.commandTag) parts.push(v(d.commandTag));
  if (d.rows !== undefined && !d.error) parts.push(`${d.rows} row${d.rows === 1 ? '' : 's'}`);
  if (d.durationMs !== undefined) parts.push(`${round(d.durationMs)} ms`);
  return parts.join(', ');
}

function round(n: number): string {
  return n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

/** Every field of a record, for `audit show`. */
export function recordDetail(r: AuditRecord, outcome?: AuditRecord): string {
  const lines = [`id:        ${v(r.id)}`, `type:      ${v(r.type)}`, `time:      ${isoTime(r.at)} UTC`, `instance:  ${v(r.instance)} (seq ${r.seq})`, `session:   ${v(r.sessionId ?? '-')}`];
  const d = r.data as Record<string, unknown>;
  const id = d.identity as IdentityData | undefined;
  if (id) lines.push(`identity:  ${v(id.subject)} (${v(id.issuer)})${id.groups?.length ? ` groups ${v(id.groups.join(', '))}` : ''}`);
  if (r.type === 'statement') {
    const s = d as unknown as StatementData;
    lines.push(`database:  ${v(s.database ?? '-')}`, `kind:      ${v(s.kind)}${s.name ? ` ${v(s.name)}` : ''}`);
    lines.push(`decision:  ${v(s.decision.verdict)}${s.decision.rule ? ` by ${v(s.decision.rule)}` : ''}${s.decision.reviewId ? ` review ${v(s.decision.reviewId)}` : ''}`);
    if (s.decision.message) lines.push(`message:   ${v(s.decision.message)}`);
    if (s.analysis) lines.push(`analysis:  ${v(s.analysis.command)} (${v(s.analysis.class)})${s.analysis.tables.length ? ` on ${v(s.analysis.tables.join(', '))}` : ''}`);
    lines.push(...continued(s.text, 'text:      ', `${' '.repeat(9)}| `));
    if (s.params) lines.push(`params:    ${v(JSON.stringify(s.params))}`);
    lines.push(`bytes:     ${Buffer.from(s.bytes, 'base64').length} bytes, sha256 ${v(s.bytesSha256)}`);
    if (outcome) {
      lines.push(`outcome:   ${outcomeSummary(outcome)}`);
      const cap = (outcome.data as { capture?: ResultCapture }).capture;
      if (cap) lines.push(...captureTable(cap).map((l) => `  ${l}`));
    }
  } else {
    for (const [k, val] of Object.entries(d)) if (k !== 'identity' && val !== undefined) lines.push(`${`${v(k)}:`.padEnd(10)} ${v(typeof val === 'string' ? val : JSON.stringify(val))}`);
  }
  lines.push(`hash:      ${v(r.hash)}`, `prev:      ${v(r.prevHash)}`);
  return lines.join('\n');
}

/** A small aligned table of captured rows. */
export function captureTable(c: ResultCapture): string[] {
  const cells = (row: (string | null)[]) => row.map((v) => (v === null ? 'NULL' : oneLine(v, 40)));
  const body = c.rows.map(cells);
  const columns = c.columns.map((h) => oneLine(h, 40));
  const widths = columns.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ').trimEnd();
  const out = [fmt(columns), widths.map((w) => '-'.repeat(w)).join('-+-')];
  for (const r of body) out.push(fmt(r));
  if (c.truncated) out.push(`(more rows not captured)`);
  return out;
}

/** One replayed step: `+1.234s  ALLOW  SELECT …  → SELECT 3, 3 rows, 1.2 ms` and its captured rows. */
export function replayStepLines(step: ReplayStep): string[] {
  const r = step.record;
  const t = `+${(step.offsetMs / 1000).toFixed(3)}s`.padStart(10);
  const d = r.data as Record<string, unknown>;
  switch (r.type) {
    case 'statement': {
      const s = d as unknown as StatementData;
      const lines = continued(s.text.trim(), `${t}  ${v(s.decision.verdict.toUpperCase()).padEnd(6)} `, `${' '.repeat(16)}| `);
      if (s.params?.length) lines.push(`${' '.repeat(18)}params ${v(JSON.stringify(s.params))}`);
      if (s.decision.verdict !== 'allow' && s.decision.message) lines.push(`${' '.repeat(18)}${v(s.decision.message)}`);
      if (step.outcome) {
        lines.push(`${' '.repeat(18)}→ ${outcomeSummary(step.outcome)}`);
        const cap = (step.outcome.data as { capture?: ResultCapture }).capture;
        if (cap) for (const l of captureTable(cap)) lines.push(`${' '.repeat(20)}${l}`);
      }
      return lines;
    }
    case 'session_start': {
      const id = d.identity as IdentityData;
      return [`${t}  session ${v(r.sessionId)} by ${v(id.subject)} (${v(id.issuer)}) to ${v(d.database)} from ${v(d.clientAddress)}${d.tls ? ' over TLS' : ''}`];
    }
    case 'session_end':
      return [`${t}  session ended: ${v(d.reason)}`];
    case 'event':
      return [`${t}  event ${v(d.kind)} ${v(JSON.stringify(d.details ?? {}))}`];
    case 'statement_end':
      return [];
  }
}
