/**
 * The approvals pages of the web console, a `ConsoleSection` at `/console/reviews` for the
 * approver role (admins hold it too):
 *
 *   GET  /console/reviews           pending requests: statement (highlighted), identity, database,
 *                                   rule, mode, created / expires, analysis
 *   GET  /console/reviews/history   decided and closed reviews: who decided, when, the comment
 *   GET  /console/reviews/:id       one review, with Approve / Reject and a comment while pending
 *   POST /console/reviews/:id       `decision=approve|reject`, `comment`, `csrf`
 *
 * The console's role only opens the pages; whether this human may decide this review is the
 * service's call (the rule's approvers, never the requester), and its refusals are shown as they
 * are. The approver is the signed-in human: the issuer they signed in at (the console's issuer),
 * their subject and their groups, all from the signed session cookie.
 */
import type { Context, Hono } from 'hono';
import { groupTags, highlightSql, html, timeCell, type ConsoleEnv, type ConsoleKit, type ConsoleSection, type ConsoleUser, type SafeHtml } from '../console/index.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { isApprover } from './rules.ts';
import type { ReviewService } from './service.ts';
import { ReviewError, type Review, type ReviewDecision, type ReviewErrorCode } from './types.ts';

export interface ReviewsSectionDeps {
  service: ReviewService;
  logger: Logger;
}

const BASE = '/console/reviews';
const ID = /^r-[a-z0-9]{3,16}$/;
const LIST_LIMIT = 200;
const MAX_COMMENT = 2000;

const STATUS_OF: Record<ReviewErrorCode, 400 | 403 | 404 | 409 | 410 | 503> = {
  not_found: 404,
  not_approver: 403,
  self_approval: 403,
  already_decided: 409,
  already_approved: 409,
  expired: 410,
  closed: 503,
};

export function reviewsSection(deps: ReviewsSectionDeps): ConsoleSection {
  const log = deps.logger.child({ part: 'review-console' });
  return {
    path: '/reviews',
    title: 'Approvals',
    role: 'approver',
    mount(app: Hono<ConsoleEnv>, kit: ConsoleKit) {
      app.get('/', async (c) => {
        const pending = await deps.service.list({ status: 'pending', limit: LIST_LIMIT });
        const body = html`<h1>Approvals</h1>
${tabs('pending', pending.length)}
${pending.length === 0
  ? html`<div class="card"><p class="muted">No statement is waiting for review.</p></div>`
  : html`<table class="reviews pending">
<thead><tr><th>Review</th><th>Statement</th><th>Identity</th><th>Database</th><th>Created · expires</th></tr></thead>
<tbody>${pending.map((r) => html`<tr data-review="${r.id}">
<td><a href="${BASE}/${r.id}"><code>${r.id}</code></a><div class="muted small">rule ${r.rule}</div><div class="small">${modeText(r)}</div>${r.approvers.count > 1 ? html`<div class="small">${r.approvals.length} of ${r.approvers.count} approvals</div>` : ''}</td>
<td><pre class="sql">${highlightSql(r.text)}</pre>${analysisLine(r)}</td>
<td>${identityCell(r)}</td>
<td>${r.database}</td>
<td class="small">${timeCell(Date.parse(r.createdAt))}<div>expires ${timeCell(Date.parse(r.expiresAt))}</div><div class="muted">${untilText(r.expiresAt)}</div></td>
</tr>`)}</tbody></table>`}`;
        return kit.page(c, { title: 'Approvals', active: '/reviews', body });
      });

      app.get('/history', async (c) => {
        const done = (await deps.service.list({ limit: LIST_LIMIT })).filter((r) => r.status !== 'pending');
        const body = html`<h1>Approvals</h1>
${tabs('history', undefined)}
${done.length === 0
  ? html`<div class="card"><p class="muted">No review has been decided or closed yet.</p></div>`
  : html`<table class="reviews history">
<thead><tr><th>Review</th><th>Status</th><th>Statement</th><th>Requested by</th><th>Decisions</th><th>Closed</th></tr></thead>
<tbody>${done.map((r) => html`<tr data-review="${r.id}" data-status="${r.status}">
<td><a href="${BASE}/${r.id}"><code>${r.id}</code></a><div class="muted small">rule ${r.rule} · ${r.mode}</div></td>
<td>${statusBadge(r)}</td>
<td><pre class="sql">${highlightSql(r.text)}</pre><div class="muted small">on ${r.database}</div></td>
<td>${r.identity.subject}<div class="muted small">${r.identity.issuer}</div></td>
<td>${decisions(r)}</td>
<td class="small">${closedAt(r)}</td>
</tr>`)}</tbody></table>`}
<p class="muted small">The ${LIST_LIMIT} most recent reviews are looked at; <code>pgwarden reviews list</code> and <code>GET /api/reviews</code> reach further.</p>`;
        return kit.page(c, { title: 'Approval history', active: '/reviews', body });
      });

      app.get('/:id', async (c) => {
        const id = c.req.param('id');
        const review = ID.test(id) ? await deps.service.get(id) : null;
        if (!review) return kit.message(c, { title: 'No such review', status: 404, message: `There is no review ${id}.` });
        const done = c.req.query('done');
        const flash = done === 'approved' || done === 'rejected' || done === 'pending' ? doneFlash(done, review) : undefined;
        return detailPage(c, kit, review, { flash });
      });

      app.post('/:id', async (c) => {
        const id = c.req.param('id');
        const form = await c.req.parseBody();
        if (!kit.csrfOk(c, form.csrf)) {
          return kit.message(c, { title: 'Request refused', status: 403, message: 'This form was not sent from a page of this console (its anti-forgery token did not match). Reload the page and try again.' });
        }
        const review = ID.test(id) ? await deps.service.get(id) : null;
        if (!review) return kit.message(c, { title: 'No such review', status: 404, message: `There is no review ${id}.` });
        const decision = form.decision;
        const comment = typeof form.comment === 'string' ? form.comment.trim() : '';
        if (decision !== 'approve' && decision !== 'reject') {
          return detailPage(c, kit, review, { status: 400, flash: errorFlash('Choose Approve or Reject.'), comment });
        }
        if (comment.length > MAX_COMMENT) {
          return detailPage(c, kit, review, { status: 400, flash: errorFlash(`The comment is ${comment.length} characters long; at most ${MAX_COMMENT} are kept.`), comment });
        }
        const user = c.get('user');
        const who = approverIdentity(user);
        try {
          const updated = decision === 'approve' ? await deps.service.approve(id, who, comment || undefined) : await deps.service.reject(id, who, comment || undefined);
          log.info({ review: id, by: who.subject, issuer: who.issuer, decision, status: updated.status }, `review ${decision === 'approve' ? 'approval' : 'rejection'} through the console`);
          return c.redirect(`${BASE}/${encodeURIComponent(id)}?done=${updated.status === 'pending' ? 'pending' : updated.status}`, 303);
        } catch (err) {
          if (!(err instanceof ReviewError)) throw err;
          log.info({ review: id, by: who.subject, decision, code: err.code }, 'console decision refused');
          const now = (await deps.service.get(id)) ?? review;
          return detailPage(c, kit, now, { status: STATUS_OF[err.code], flash: errorFlash(err.message, err.hint), comment });
        }
      });
    },
  };
}

/** The signed-in human as the service's approver: the session's issuer (the console's), subject and groups. */
export function approverIdentity(user: ConsoleUser): Identity {
  return { issuer: user.issuer, issuerName: user.issuer, subject: user.subject, groups: [...user.groups], claims: {}, expiresAt: user.exp * 1000 };
}

function detailPage(c: Context<ConsoleEnv>, kit: ConsoleKit, r: Review, o: { status?: 200 | 400 | 403 | 404 | 409 | 410 | 503; flash?: SafeHtml; comment?: string }): Response {
  const user = c.get('user');
  const me = approverIdentity(user);
  const own = me.issuer === r.identity.issuer && me.subject === r.identity.subject;
  const mayDecide = !own && isApprover(r.approvers, me) && !r.approvals.some((a) => a.by === me.subject && a.issuer === me.issuer);
  const body = html`<p class="pager"><a href="${BASE}">← Pending</a> <a href="${BASE}/history">History</a></p>
<h1>Review <code>${r.id}</code> ${statusBadge(r)}</h1>
${o.flash ?? ''}
<div class="grid2">
<div>
<div class="card"><pre class="sql block">${highlightSql(r.text)}</pre></div>
<h2>Analysis</h2>
<div class="card"><dl class="facts">
<dt>Command</dt><dd>${r.analysis.command || '-'}</dd>
<dt>Class</dt><dd>${r.analysis.class || '-'}</dd>
<dt>Tables</dt><dd>${r.analysis.tables.length ? html`<span class="tags">${r.analysis.tables.map((t) => html`<span>${t}</span>`)}</span>` : html`<span class="muted">none named</span>`}</dd>
${r.analysis.runs?.length ? html`<dt>Runs</dt><dd>${r.analysis.runs.map((t) => html`<pre class="sql">${highlightSql(t)}</pre>`)}</dd>` : ''}
${r.analysis.searchPath === undefined ? '' : html`<dt>search_path</dt><dd class="search-path"><code>${r.analysis.searchPath.join(', ') || '(empty)'}</code> <span class="muted small">names in the statement resolve to the tables above; the approval holds only for this resolution</span></dd>`}
${r.analysis.estimatedRows === undefined ? '' : html`<dt>Rows</dt><dd>${r.analysis.estimatedRows === null ? 'could not be estimated' : `about ${Math.round(r.analysis.estimatedRows)} (planner's estimate)`}</dd>`}
</dl></div>
<h2>Decisions</h2>
<div class="card">${decisions(r)}</div>
</div>
<div>
<div class="card"><dl class="facts">
<dt>Identity</dt><dd>${identityCell(r)}</dd>
<dt>Database</dt><dd>${r.database}</dd>
<dt>Rule</dt><dd>${r.rule}</dd>
<dt>Mode</dt><dd>${modeText(r)}</dd>
<dt>Approvers</dt><dd>${r.approvers.count} of ${approversText(r)}</dd>
<dt>Created</dt><dd>${timeCell(Date.parse(r.createdAt))}</dd>
<dt>${r.status === 'pending' ? 'Expires' : 'Expired at'}</dt><dd>${r.status === 'pending' ? html`${timeCell(Date.parse(r.expiresAt))} <span class="muted">${untilText(r.expiresAt)}</span>` : r.expiredAt ? timeCell(Date.parse(r.expiredAt)) : html`<span class="muted">-</span>`}</dd>
${r.approvedUntil && r.status === 'approved' ? html`<dt>Usable until</dt><dd>${timeCell(Date.parse(r.approvedUntil))}</dd>` : ''}
${r.consumedAt ? html`<dt>Ran</dt><dd>${timeCell(Date.parse(r.consumedAt))}</dd>` : ''}
${r.sessionId ? html`<dt>Session</dt><dd><code>${r.sessionId}</code></dd>` : ''}
</dl></div>
${r.status === 'pending'
  ? html`<h2>Decide</h2>
<form method="post" action="${BASE}/${r.id}" class="decide card">
<input type="hidden" name="csrf" value="${user.csrf}">
${own
  ? html`<p class="err small">This is your own request: another approver must decide it.</p>`
  : mayDecide
    ? ''
    : html`<p class="muted small">You are signed in as ${me.subject}${me.groups.length ? ` (groups ${me.groups.join(', ')})` : ''}; this review's approvers are ${approversText(r)}.</p>`}
<label for="comment">Comment <span class="muted small">(recorded with your decision)</span></label>
<textarea id="comment" name="comment" maxlength="${MAX_COMMENT}">${o.comment ?? ''}</textarea>
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">Approve</button><button class="danger" type="submit" name="decision" value="reject">Reject</button></div>
</form>`
  : ''}
</div>
</div>`;
  return kit.page(c, { title: `Review ${r.id}`, active: '/reviews', status: o.status, body });
}

function tabs(on: 'pending' | 'history', pendingCount: number | undefined): SafeHtml {
  const label = `Pending${pendingCount === undefined ? '' : ` (${pendingCount})`}`;
  return html`<p class="pager">${on === 'pending' ? html`<strong>${label}</strong>` : html`<a href="${BASE}">${label}</a>`}
${on === 'history' ? html`<strong>History</strong>` : html`<a href="${BASE}/history">History</a>`}</p>`;
}

function statusBadge(r: Review): SafeHtml {
  return html`<span class="badge ${r.status}">${r.status}</span>`;
}

function modeText(r: Review): string {
  return r.mode === 'wait' ? 'wait: the client is holding the statement' : 'defer: the client re-runs it once approved';
}

function identityCell(r: Review): SafeHtml {
  return html`<strong>${r.identity.subject}</strong> ${groupTags(r.identity.groups)}<div class="muted small">${r.identity.issuer}</div>`;
}

function analysisLine(r: Review): SafeHtml {
  const a = r.analysis;
  return html`<div class="muted small">${a.command}${a.class ? ` · ${a.class}` : ''}${a.tables.length ? ` · ${a.tables.join(', ')}` : ''}</div>`;
}

function approversText(r: Review): string {
  const who = [...r.approvers.groups.map((g) => `group ${g}`), ...r.approvers.subjects.map((s) => `subject ${s}`)];
  return `${who.join(', ') || 'nobody named'}${r.approvers.issuers ? ` (issuers ${r.approvers.issuers.join(', ')})` : ''}`;
}

function decisionItem(verb: string, d: ReviewDecision): SafeHtml {
  return html`<li><strong>${verb}</strong> by ${d.by} <span class="muted small">${d.issuer}</span> at ${timeCell(Date.parse(d.at))}${d.comment ? html`: <q class="comment">${d.comment}</q>` : html` <span class="muted">(no comment)</span>`}</li>`;
}

function decisions(r: Review): SafeHtml {
  const items = [...r.approvals.map((a) => decisionItem('approved', a)), ...(r.rejection ? [decisionItem('rejected', r.rejection)] : [])];
  const tail =
    r.status === 'expired'
      ? html`<li class="muted">expired ${r.approvedAt ? 'approved but never run within its window' : 'without a decision'}</li>`
      : r.status === 'consumed'
        ? html`<li class="muted">ran once, for ${r.identity.subject}</li>`
        : r.status === 'abandoned'
          ? html`<li class="muted">abandoned: ${r.identity.subject} disconnected while it was held, so it never ran</li>`
          : '';
  if (items.length === 0 && tail === '') return html`<p class="muted">No decision yet.</p>`;
  return html`<ul class="decisions">${items}${tail}</ul>`;
}

function closedAt(r: Review): SafeHtml | string {
  const at = r.consumedAt ?? r.expiredAt ?? r.abandonedAt ?? r.rejection?.at ?? r.approvedAt;
  return at ? timeCell(Date.parse(at)) : '';
}

function untilText(iso: string): string {
  const ms = Date.parse(iso) - Date.now();
  if (ms <= 0) return '(due now)';
  const min = Math.round(ms / 60_000);
  return min < 1 ? `(in ${Math.ceil(ms / 1000)} s)` : min < 120 ? `(in ${min} min)` : `(in ${(ms / 3_600_000).toFixed(1)} h)`;
}

function doneFlash(done: 'approved' | 'rejected' | 'pending', r: Review): SafeHtml {
  const text =
    done === 'approved'
      ? r.mode === 'wait'
        ? 'Approved: the waiting client’s statement runs now.'
        : 'Approved: the same identity can now re-run the exact statement, once.'
      : done === 'rejected'
        ? 'Rejected: the statement will not run.'
        : `Your approval is recorded; it needs ${r.approvers.count - r.approvals.length} more.`;
  return html`<div class="flash ok" role="status">${text}</div>`;
}

function errorFlash(message: string, hint?: string): SafeHtml {
  return html`<div class="flash err" role="alert">${message}${hint ? html`<div class="small">${hint}</div>` : ''}</div>`;
}
