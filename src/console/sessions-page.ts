/** `GET /console/sessions`: the session list with its filters (identity, time, decision, text), newest first, paged. */
import type { Context } from 'hono';
import type { Verdict } from '../audit/index.ts';
import type { AuditStore } from '../store/index.ts';
import type { ConsoleEnv } from './auth.ts';
import { html, query } from './html.ts';
import { BASE, renderPage, type Frame } from './layout.ts';
import { decodeCursor, encodeCursor, listSessions, type SessionFilter, type SessionSummary } from './sessions-query.ts';
import { duration, groupTags, timeCell, type IdentityData } from './view-parts.ts';

const PAGE_SIZE = 25;
const VERDICTS: readonly Verdict[] = ['allow', 'deny', 'review'];

interface FilterForm {
  identity: string;
  since: string;
  until: string;
  decision: string;
  text: string;
}

/**
 * A time filter: an absolute time (`2025-01-02 10:00`, read as UTC unless it names a zone) or an
 * age (`15m`, `2h`, `7d`: that long ago).
 */
export function parseTime(text: string, now = Date.now()): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const age = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(t);
  if (age) return now - Math.round(Number(age[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 's' | 'm' | 'h' | 'd']);
  const iso = t.replace(' ', 'T');
  const withZone = /(Z|[+-]\d\d:?\d\d)$/i.test(iso) || /^\d{4}-\d\d-\d\d$/.test(iso) ? iso : `${iso}Z`;
  const at = Date.parse(/^\d{4}-\d\d-\d\d$/.test(iso) ? `${iso}T00:00:00Z` : withZone);
  return Number.isNaN(at) ? Number.NaN : at;
}

function readFilter(c: Context): { form: FilterForm; filter: SessionFilter; problems: string[] } {
  const q = (k: string) => (c.req.query(k) ?? '').slice(0, 500);
  const form: FilterForm = { identity: q('identity').trim(), since: q('since'), until: q('until'), decision: q('decision'), text: q('text') };
  const filter: SessionFilter = {};
  const problems: string[] = [];
  if (form.identity) filter.identity = form.identity;
  for (const key of ['since', 'until'] as const) {
    const at = parseTime(form[key]);
    if (at !== undefined && Number.isNaN(at)) problems.push(`${key}: not a time; write 2025-01-02 10:00 (UTC) or an age such as 2h`);
    else if (at !== undefined) filter[key] = at;
  }
  if ((VERDICTS as readonly string[]).includes(form.decision)) filter.decision = form.decision as Verdict;
  if (form.text.trim()) filter.text = form.text.trim();
  return { form, filter, problems };
}

export async function sessionsPage(c: Context<ConsoleEnv>, store: AuditStore, frame: Frame): Promise<Response> {
  const { form, filter, problems } = readFilter(c);
  const cursor = decodeCursor(c.req.query('before'));
  const result = problems.length ? { sessions: [] } : await listSessions(store, filter, { before: cursor, size: PAGE_SIZE });
  const keep = { identity: form.identity, since: form.since, until: form.until, decision: form.decision, text: form.text };
  const body = html`<h1>Sessions</h1>
<form class="filters" method="get" action="${BASE}/sessions">
  <label>Identity (subject)<input name="identity" value="${form.identity}" placeholder="e.g. analyst" size="16"></label>
  <label>Since<input name="since" value="${form.since}" placeholder="2h or 2025-01-02 10:00" size="18"></label>
  <label>Until<input name="until" value="${form.until}" placeholder="UTC" size="18"></label>
  <label>Decision<select name="decision"><option value="">any</option>${VERDICTS.map((v) => html`<option value="${v}" ${form.decision === v ? html`selected` : ''}>${v}</option>`)}</select></label>
  <label>Statement text<input name="text" value="${form.text}" placeholder="contains…" size="22"></label>
  <button class="primary" type="submit">Filter</button>
  <a href="${BASE}/sessions">Clear</a>
</form>
${problems.map((p) => html`<p class="err">${p}</p>`)}
${result.sessions.length === 0
  ? html`<div class="card"><p class="muted">${cursor ? 'No older sessions.' : 'No sessions match.'}</p></div>`
  : html`<table class="sessions">
<thead><tr><th>Started (UTC)</th><th>Identity</th><th>Database</th><th>Client</th><th class="num">Statements</th><th class="num">Refused</th><th>Duration</th><th></th></tr></thead>
<tbody>${result.sessions.map(row)}</tbody></table>`}
<div class="pager">
${cursor ? html`<a href="${BASE}/sessions${query(keep)}">Newest</a>` : ''}
${result.next ? html`<a href="${BASE}/sessions${query({ ...keep, before: encodeCursor(result.next) })}" rel="next">Older sessions →</a>` : ''}
</div>`;
  return renderPage(c, frame, { title: 'Sessions', user: c.get('user'), active: '/sessions', body });
}

function row(s: SessionSummary) {
  const d = s.start.data as { identity?: IdentityData; database?: string; clientAddress?: string; applicationName?: string; tls?: boolean; transport?: string };
  const id = d.identity ?? {};
  const end = s.end?.data as { reason?: string; durationMs?: number } | undefined;
  const refused = s.denied + s.reviewed;
  const link = `${BASE}/sessions/${encodeURIComponent(s.start.sessionId ?? '')}`;
  return html`<tr class="${s.denied ? 'deny' : s.reviewed ? 'review' : ''}">
<td><a href="${link}">${timeCell(s.start.at)}</a></td>
<td><strong>${id.subject ?? '-'}</strong> <span class="muted small">${id.issuerName ?? id.issuer ?? ''}</span><br>${groupTags(id.groups)}</td>
<td>${d.database ?? ''}</td>
<td>${d.clientAddress ?? ''}${d.applicationName ? html`<br><span class="muted small">${d.applicationName}</span>` : ''}${d.tls ? html` <span class="muted small">TLS</span>` : ''}</td>
<td class="num">${s.statements}${s.more ? '+' : ''}</td>
<td class="num">${refused ? html`<span class="err">${refused}</span>` : '0'}</td>
<td>${end ? html`${duration(end.durationMs)} <span class="muted small">${end.reason ?? ''}</span>` : html`<span class="muted">open</span>`}</td>
<td><a href="${link}">statements</a> · <a href="${link}/replay">replay</a></td>
</tr>`;
}
