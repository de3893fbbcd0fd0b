/** Human-readable lines for the CLI: one line per record, a detailed view, a replayed session. */
import type { AuditRecord, ResultCapture, StatementData } from './events.ts';
import type { ReplayStep } from './replay.ts';

export function isoTime(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

interface IdentityData {
  subject?: string;
  issuer?: string;
  groups?: string[];
}

/** `2025-01-02 10:00:00.123  ID  subject  ALLOW  select  SELECT …  → 3 rows, 2 ms` */
export function recordLine(r: AuditRecord, outcome?: AuditRecord): string {
  const d = r.data as Record<string, unknown>;
  const who = (d.identity as IdentityData | undefined)?.subject ?? '-';
  const head = `${isoTime(r.at)}  ${r.id}  ${who}`;
  switch (r.type) {
    case 'statement': {
      const s = d as unknown as StatementData;
      const rule = s.decision.rule ? ` (${s.decision.rule})` : '';
      return `${head}  ${s.decision.verdict.toUpperCase()}${rule}  ${oneLine(s.text)}${outcome ? `  → ${outcomeSummary(outcome)}` : ''}`;
    }
    case 'session_start':
      return `${head}  SESSION START ${r.sessionId} db=${String(d.database)} from ${String(d.clientAddress)}${d.applicationName ? ` app=${String(d.applicationName)}` : ''}${d.tls ? ' tls' : ''}`;
    case 'session_end':
      return `${head}  SESSION END ${r.sessionId}: ${String(d.reason)}`;
    case 'statement_end':
      return `${head}  END of ${String(d.id)}: ${outcomeSummary(r)}`;
    case 'event':
      return `${head}  EVENT ${String(d.kind)}${d.actor ? ` by ${String(d.actor)}` : ''} ${oneLine(JSON.stringify(d.details ?? {}), 120)}`;
  }
}

export function outcomeSummary(end: AuditRecord): string {
  const d = end.data as { rows?: number; commandTag?: string; error?: { sqlstate: string; message: string }; durationMs?: number };
  const parts: string[] = [];
  if ((end.data as { outcome?: unknown }).outcome === 'unknown') return `outcome unknown (${String((end.data as { reason?: unknown }).reason ?? 'not recorded')})`;
  if (d.error) parts.push(`ERROR ${d.error.sqlstate} ${oneLine(d.error.message, 80)}`);
  else if (d.commandTag) parts.push(d.commandTag);
  if (d.rows !== undefined && !d.error) parts.push(`${d.rows} row${d.rows === 1 ? '' : 's'}`);
  if (d.durationMs !== undefined) parts.push(`${round(d.durationMs)} ms`);
  return parts.join(', ');
}

function round(n: number): string {
  return n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

/** Every field of a record, for `audit show`. */
export function recordDetail(r: AuditRecord, outcome?: AuditRecord): string {
  const lines = [`id:        ${r.id}`, `type:      ${r.type}`, `time:      ${isoTime(r.at)} UTC`, `instance:  ${r.instance} (seq ${r.seq})`, `session:   ${r.sessionId ?? '-'}`];
  const d = r.data as Record<string, unknown>;
  const id = d.identity as IdentityData | undefined;
  if (id) lines.push(`identity:  ${id.subject} (${id.issuer})${id.groups?.length ? ` groups ${id.groups.join(', ')}` : ''}`);
  if (r.type === 'statement') {
    const s = d as unknown as StatementData;
    lines.push(`database:  ${s.database ?? '-'}`, `kind:      ${s.kind}${s.name ? ` ${s.name}` : ''}`);
    lines.push(`decision:  ${s.decision.verdict}${s.decision.rule ? ` by ${s.decision.rule}` : ''}${s.decision.reviewId ? ` review ${s.decision.reviewId}` : ''}`);
    if (s.decision.message) lines.push(`message:   ${s.decision.message}`);
    if (s.analysis) lines.push(`analysis:  ${s.analysis.command} (${s.analysis.class})${s.analysis.tables.length ? ` on ${s.analysis.tables.join(', ')}` : ''}`);
    lines.push(`text:      ${s.text}`);
    if (s.params) lines.push(`params:    ${JSON.stringify(s.params)}`);
    lines.push(`bytes:     ${Buffer.from(s.bytes, 'base64').length} bytes, sha256 ${s.bytesSha256}`);
    if (outcome) {
      lines.push(`outcome:   ${outcomeSummary(outcome)}`);
      const cap = (outcome.data as { capture?: ResultCapture }).capture;
      if (cap) lines.push(...captureTable(cap).map((l) => `  ${l}`));
    }
  } else {
    for (const [k, v] of Object.entries(d)) if (k !== 'identity' && v !== undefined) lines.push(`${`${k}:`.padEnd(10)} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  lines.push(`hash:      ${r.hash}`, `prev:      ${r.prevHash}`);
  return lines.join('\n');
}

/** A small aligned table of captured rows. */
export function captureTable(c: ResultCapture): string[] {
  const cells = (row: (string | null)[]) => row.map((v) => (v === null ? 'NULL' : oneLine(v, 40)));
  const body = c.rows.map(cells);
  const widths = c.columns.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ').trimEnd();
  const out = [fmt(c.columns), widths.map((w) => '-'.repeat(w)).join('-+-')];
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
      const lines = [`${t}  ${s.decision.verdict.toUpperCase().padEnd(6)} ${s.text.trim()}`];
      if (s.params?.length) lines.push(`${' '.repeat(18)}params ${JSON.stringify(s.params)}`);
      if (s.decision.verdict !== 'allow' && s.decision.message) lines.push(`${' '.repeat(18)}${s.decision.message}`);
      if (step.outcome) {
        lines.push(`${' '.repeat(18)}→ ${outcomeSummary(step.outcome)}`);
        const cap = (step.outcome.data as { capture?: ResultCapture }).capture;
        if (cap) for (const l of captureTable(cap)) lines.push(`${' '.repeat(20)}${l}`);
      }
      return lines;
    }
    case 'session_start': {
      const id = d.identity as IdentityData;
      return [`${t}  session ${r.sessionId} by ${id.subject} (${id.issuer}) to ${String(d.database)} from ${String(d.clientAddress)}${d.tls ? ' over TLS' : ''}`];
    }
    case 'session_end':
      return [`${t}  session ended: ${String(d.reason)}`];
    case 'event':
      return [`${t}  event ${String(d.kind)} ${JSON.stringify(d.details ?? {})}`];
    case 'statement_end':
      return [];
  }
}
