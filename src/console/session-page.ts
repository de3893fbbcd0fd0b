/**
 * One session: `GET /console/sessions/:id` lists its statements (decision, refusal, command tag,
 * rows, duration), `GET /console/sessions/:id/replay` plays its records back in order with their
 * time since the session began and the rows each statement returned as the client saw them
 * (masked by the gateway before capture).
 */
import type { Context } from 'hono';
import { loadReplay, type AuditRecord, type ReplayStep } from '../audit/index.ts';
import type { AuditStore } from '../store/index.ts';
import type { ConsoleEnv } from './auth.ts';
import { html, visibleText, type SafeHtml } from './html.ts';
import { BASE, messagePage, renderPage, type Frame } from './layout.ts';
import { sessionStart, sessionStatements } from './sessions-query.ts';
import { badge, captureTable, decisionDetail, duration, groupTags, offset, outcomeData, outcomeSummary, statementData, utc, type IdentityData } from './view-parts.ts';

const PAGE_SIZE = 200;
/** Steps a replay page shows; a longer session says so. */
const REPLAY_STEPS = 2_000;

function sessionFacts(start: AuditRecord, end?: AuditRecord): SafeHtml {
  const d = start.data as { identity?: IdentityData; database?: string; upstream?: string; clientAddress?: string; applicationName?: string; tls?: boolean; transport?: string };
  const id = d.identity ?? {};
  const e = end?.data as { reason?: string; durationMs?: number; statements?: number } | undefined;
  return html`<div class="card"><dl class="facts">
<dt>Identity</dt><dd><strong>${id.subject ?? '-'}</strong> <span class="muted">${id.issuer ?? ''}</span> ${groupTags(id.groups)}</dd>
<dt>Database</dt><dd>${d.database ?? ''}${d.upstream && d.upstream !== d.database ? html` <span class="muted">(upstream ${d.upstream})</span>` : ''}</dd>
<dt>Client</dt><dd>${d.clientAddress ?? ''}${d.applicationName ? html` · ${d.applicationName}` : ''}${d.tls ? ' · TLS' : ''}${d.transport ? html` · ${d.transport}` : ''}</dd>
<dt>Started</dt><dd>${utc(start.at)} UTC</dd>
<dt>Ended</dt><dd>${end ? html`${utc(end.at)} UTC · ${duration(e?.durationMs)} · ${e?.reason ?? ''}` : html`<span class="muted">still open (or the gateway stopped before recording its end)</span>`}</dd>
<dt>Session id</dt><dd><code>${start.sessionId ?? ''}</code></dd>
</dl></div>`;
}

function sessionTabs(sessionId: string, on: 'statements' | 'replay'): SafeHtml {
  const base = `${BASE}/sessions/${encodeURIComponent(sessionId)}`;
  return html`<p class="pager"><a href="${BASE}/sessions">← All sessions</a>
${on === 'statements' ? html`<strong>Statements</strong>` : html`<a href="${base}">Statements</a>`}
${on === 'replay' ? html`<strong>Replay</strong>` : html`<a href="${base}/replay">Replay</a>`}</p>`;
}

export async function sessionPage(c: Context<ConsoleEnv>, store: AuditStore, frame: Frame): Promise<Response> {
  const sessionId = c.req.param('id') ?? '';
  const head = await sessionStart(store, sessionId);
  if (!head) return messagePage(c, frame, { title: 'No such session', status: 404, user: c.get('user'), message: `The audit log has no session ${sessionId}.` });
  const afterText = c.req.query('after');
  const afterPos = afterText && /^\d{1,16}$/.test(afterText) ? Number(afterText) : undefined;
  const { statements, nextAfter } = await sessionStatements(store, sessionId, { afterPos, size: PAGE_SIZE });
  const t0 = head.start.at;
  const body = html`<h1>Session of ${(head.start.data as { identity?: IdentityData }).identity?.subject ?? '-'}</h1>
${sessionTabs(sessionId, 'statements')}
${sessionFacts(head.start, head.end)}
<h2>Statements</h2>
${statements.length === 0
  ? html`<div class="card"><p class="muted">No statements${afterPos !== undefined ? ' after these' : ''}.</p></div>`
  : html`<table class="statements">
<thead><tr><th class="num">#</th><th>Time</th><th>Decision</th><th>Statement</th><th>Result</th><th class="num">Rows</th><th class="num">Duration</th></tr></thead>
<tbody>${statements.map(({ record, outcome }) => {
      const s = statementData(record);
      const o = outcomeData(outcome);
      return html`<tr class="${s.decision.verdict}" data-verdict="${s.decision.verdict}">
<td class="num">${s.seq}</td>
<td class="small"><span title="${utc(record.at)} UTC">${offset(record.at - t0)}</span></td>
<td>${badge(s.decision.verdict)}</td>
<td><pre class="sql">${visibleText(s.text)}</pre>${s.params?.length ? html`<div class="muted small">params ${JSON.stringify(s.params)}</div>` : ''}${decisionDetail(s)}${s.analysis?.tables.length ? html`<div class="muted small">${s.analysis.command} on ${s.analysis.tables.join(', ')}</div>` : ''}</td>
<td>${outcomeSummary(o, s.decision.verdict)}</td>
<td class="num">${o?.rows ?? ''}</td>
<td class="num">${duration(o?.durationMs)}</td>
</tr>`;
    })}</tbody></table>`}
${nextAfter !== undefined ? html`<p class="pager"><a href="${BASE}/sessions/${encodeURIComponent(sessionId)}?after=${nextAfter}" rel="next">Next statements →</a></p>` : ''}`;
  return renderPage(c, frame, { title: 'Session', user: c.get('user'), active: '/sessions', body });
}

export async function replayPage(c: Context<ConsoleEnv>, store: AuditStore, frame: Frame): Promise<Response> {
  const sessionId = c.req.param('id') ?? '';
  const replay = await loadReplay(store, sessionId);
  if (!replay?.start) return messagePage(c, frame, { title: 'No such session', status: 404, user: c.get('user'), message: `The audit log has no session ${sessionId}.` });
  const steps = replay.steps.slice(0, REPLAY_STEPS);
  const body = html`<h1>Replay</h1>
${sessionTabs(sessionId, 'replay')}
${sessionFacts(replay.start, replay.end)}
<h2>As it happened</h2>
<p class="muted small">Times are since the session began. Rows are shown as the client received them: masked columns are masked here too.</p>
<ol class="steps card">${steps.map(step)}</ol>
${replay.steps.length > steps.length ? html`<p class="muted">The first ${steps.length} of ${replay.steps.length} records are shown; <code>pgwarden audit replay</code> prints them all.</p>` : ''}`;
  return renderPage(c, frame, { title: 'Replay', user: c.get('user'), active: '/sessions', body });
}

function step(st: ReplayStep): SafeHtml {
  const r = st.record;
  const d = r.data as Record<string, unknown>;
  const t = html`<div class="t">${offset(st.offsetMs)}</div>`;
  switch (r.type) {
    case 'statement': {
      const s = statementData(r);
      const o = outcomeData(st.outcome);
      return html`<li class="step statement" data-verdict="${s.decision.verdict}">${t}<div>
${badge(s.decision.verdict)} <pre class="sql">${visibleText(s.text)}</pre>
${s.params?.length ? html`<div class="muted small">params ${JSON.stringify(s.params)}</div>` : ''}
${decisionDetail(s)}
${o ? html`<div class="small">→ ${outcomeSummary(o, s.decision.verdict)}${o.rows !== undefined && !o.error ? ` · ${o.rows} row${o.rows === 1 ? '' : 's'}` : ''}${o.durationMs !== undefined ? ` · ${duration(o.durationMs)}` : ''}</div>` : ''}
${o?.capture ? captureTable(o.capture) : ''}
</div></li>`;
    }
    case 'session_start':
      return html`<li class="step event">${t}<div>session started: ${(d.identity as IdentityData | undefined)?.subject ?? '-'} to ${String(d.database ?? '')} from ${String(d.clientAddress ?? '')}</div></li>`;
    case 'session_end':
      return html`<li class="step event">${t}<div>session ended: ${String(d.reason ?? '')}</div></li>`;
    case 'event':
      return html`<li class="step event">${t}<div>event ${String(d.kind ?? '')} <code>${JSON.stringify(d.details ?? {})}</code></div></li>`;
    case 'statement_end':
      return html``;
  }
}
