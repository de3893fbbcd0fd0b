/** Small pieces the console's audit pages share: decision badges, times, durations, outcomes, captured rows. */
import type { AuditRecord, ResultCapture, StatementData } from '../audit/index.ts';
import { html, type SafeHtml } from './html.ts';

export interface OutcomeData {
  rows?: number;
  commandTag?: string;
  error?: { sqlstate: string; message: string };
  durationMs?: number;
  capture?: ResultCapture;
}

export interface IdentityData {
  subject?: string;
  issuer?: string;
  issuerName?: string;
  groups?: string[];
}

export function statementData(r: AuditRecord): StatementData {
  return r.data as unknown as StatementData;
}

export function outcomeData(r: AuditRecord | undefined): OutcomeData | undefined {
  return r ? (r.data as OutcomeData) : undefined;
}

/** UTC, to the millisecond: the log's own clock, the same for every reader. */
export function utc(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

export function timeCell(at: number): SafeHtml {
  const iso = new Date(at).toISOString();
  return html`<time datetime="${iso}" title="${iso}">${utc(at).slice(0, 19)}</time>`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function offset(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

export function badge(verdict: string): SafeHtml {
  const cls = verdict === 'allow' || verdict === 'deny' || verdict === 'review' ? verdict : 'error';
  return html`<span class="badge ${cls}">${verdict}</span>`;
}

export function groupTags(groups: readonly string[] | undefined): SafeHtml {
  return html`<span class="tags">${(groups ?? []).map((g) => html`<span>${g}</span>`)}</span>`;
}

/** `SELECT 3 · 3 rows` or the error, for a statement's outcome. */
export function outcomeSummary(o: OutcomeData | undefined, verdict: string): SafeHtml {
  if (!o) {
    if (verdict === 'allow') return html`<span class="muted">no outcome recorded</span>`;
    // Recorded while held: the decision is a later record of the session with the same review.
    if (verdict === 'review') return html`<span class="muted">held for review; the decision follows as a later statement with the same review</span>`;
    return html`<span class="muted">not run</span>`;
  }
  if (o.error) return html`<span class="err">ERROR ${o.error.sqlstate}: ${o.error.message}</span>`;
  return html`${o.commandTag ?? ''}`;
}

/** What the decision says beyond its verdict: the rule, the refusal message, the review. */
export function decisionDetail(s: StatementData): SafeHtml {
  const d = s.decision;
  return html`${d.rule ? html`<div class="muted small">rule ${d.rule}</div>` : ''}${d.verdict !== 'allow' && d.message ? html`<div class="refusal">${d.message}</div>` : ''}${d.reviewId ? html`<div class="small">review <code>${d.reviewId}</code></div>` : ''}`;
}

const CAPTURE_CELL = 200;

/** Captured rows as the client received them (already masked by the gateway). */
export function captureTable(c: ResultCapture): SafeHtml {
  const cell = (v: string | null) => (v === null ? html`<span class="muted">NULL</span>` : v.length > CAPTURE_CELL ? `${v.slice(0, CAPTURE_CELL - 1)}…` : v);
  return html`<table class="capture"><thead><tr>${c.columns.map((h) => html`<th>${h}</th>`)}</tr></thead>
<tbody>${c.rows.map((r) => html`<tr>${r.map((v) => html`<td>${cell(v)}</td>`)}</tr>`)}</tbody></table>
${c.truncated ? html`<div class="muted small">more rows were sent than were captured</div>` : ''}`;
}
