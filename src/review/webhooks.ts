/**
 * Review notifications: each configured webhook receives the events it asked for, as a generic
 * JSON document or a Slack-compatible message, signed with HMAC-SHA256 over the exact body
 * (`X-Pgwarden-Signature: sha256=<hex>` over `<X-Pgwarden-Timestamp>.<body>`).
 *
 * Delivery never blocks and never fails the review: `send()` returns at once, the review is
 * already stored, and a failed delivery (network error, timeout, 5xx, 408, 429) is retried with
 * exponential backoff; other 4xx answers are not retried. Every attempt of one delivery carries
 * the same `X-Pgwarden-Delivery` id, so a receiver can drop duplicates.
 *
 * A webhook URL may itself be a credential (Slack's are): it MUST NOT be logged — only its host is.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { WebhookConfig, WebhookEvent } from './schema.ts';
import type { Review } from './types.ts';

export interface WebhookOptions {
  logger: Logger;
  fetch?: typeof fetch;
  /** Delays before each retry, in ms (default 1s, 5s, 30s, 2m, 10m: six attempts in all). */
  retryDelaysMs?: readonly number[];
  /** Per attempt. */
  timeoutMs?: number;
  /** A link to the review for humans (the console), when one is known. */
  reviewUrl?: (id: string) => string | undefined;
}

const DEFAULT_DELAYS = [1_000, 5_000, 30_000, 120_000, 600_000];

export interface WebhookPayload {
  event: `review.${WebhookEvent}`;
  at: string;
  review: Review;
  url?: string;
}

/** The generic JSON body. */
export function jsonPayload(event: WebhookEvent, review: Review, url?: string): WebhookPayload {
  return { event: `review.${event}`, at: new Date().toISOString(), review, ...(url ? { url } : {}) };
}

/** A Slack incoming-webhook message (`text` plus blocks). */
export function slackPayload(event: WebhookEvent, review: Review, url?: string): { text: string; blocks: unknown[] } {
  const who = `${review.identity.subject}`;
  const headline: Record<WebhookEvent, string> = {
    created: `Review ${review.id} needs approval: ${review.analysis.command} by ${who} on ${review.database}`,
    approved: `Review ${review.id} approved by ${review.approvals.map((a) => a.by).join(', ')}`,
    rejected: `Review ${review.id} rejected by ${review.rejection?.by ?? 'an approver'}`,
    expired: `Review ${review.id} expired without being run`,
    abandoned: `Review ${review.id} abandoned: ${who} disconnected while it was held; nothing ran`,
  };
  const text = headline[event];
  const statement = review.text.length > 2800 ? `${review.text.slice(0, 2800)}…` : review.text;
  const fields = [
    `*Identity:* ${who}`,
    `*Database:* ${review.database}`,
    `*Rule:* ${review.rule} (${review.mode})`,
    `*Tables:* ${review.analysis.tables.join(', ') || '—'}${review.analysis.searchPath ? ` (search_path ${review.analysis.searchPath.join(', ') || 'empty'})` : ''}`,
  ];
  const comment = event === 'rejected' ? review.rejection?.comment : event === 'approved' ? review.approvals.at(-1)?.comment : undefined;
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: slackEscape(text) } },
    { type: 'section', text: { type: 'mrkdwn', text: '```' + statement.replace(/```/g, "'''") + '```' } },
    { type: 'context', elements: fields.map((f) => ({ type: 'mrkdwn', text: slackEscape(f) })) },
  ];
  if (comment) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `> ${slackEscape(comment)}` } });
  if (url && event === 'created') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `<${url}|Open review ${review.id}>` } });
  return { text: slackEscape(text), blocks };
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"). The timestamp (Unix seconds, also
 * sent as X-Pgwarden-Timestamp) is signed with the body, so a receiver that refuses old
 * timestamps cannot be fed a captured delivery again later.
 */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class Webhooks {
  #hooks: readonly WebhookConfig[];
  readonly #fetch: typeof fetch;
  readonly #log: Logger;
  readonly #delays: readonly number[];
  readonly #timeoutMs: number;
  readonly #reviewUrl?: (id: string) => string | undefined;
  readonly #inflight = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(hooks: readonly WebhookConfig[], o: WebhookOptions) {
    this.#hooks = hooks;
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#log = o.logger;
    this.#delays = o.retryDelaysMs ?? DEFAULT_DELAYS;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
    this.#reviewUrl = o.reviewUrl;
  }

  update(hooks: readonly WebhookConfig[]): void {
    this.#hooks = hooks;
  }

  /** Queue `event` for every webhook that wants it; returns at once. */
  send(event: WebhookEvent, review: Review): void {
    if (this.#stop.signal.aborted) return;
    for (const hook of this.#hooks) {
      if (!hook.events.includes(event)) continue;
      const p = this.#deliver(hook, event, review).finally(() => this.#inflight.delete(p));
      this.#inflight.add(p);
    }
  }

  /** Resolves once every queued delivery has succeeded or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Stop: pending retries are dropped (the reviews themselves are stored). */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.idle();
  }

  async #deliver(hook: WebhookConfig, event: WebhookEvent, review: Review): Promise<void> {
    let url: string | undefined;
    try {
      url = this.#reviewUrl?.(review.id);
    } catch {
      url = undefined;
    }
    const body = JSON.stringify(hook.format === 'slack' ? slackPayload(event, review, url) : jsonPayload(event, review, url));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'pgwarden-webhook',
      'X-Pgwarden-Event': `review.${event}`,
      'X-Pgwarden-Delivery': randomUUID(),
    };
    const host = safeHost(hook.url);
    for (let attempt = 0; ; attempt++) {
      if (this.#stop.signal.aborted) return;
      // Signed at each attempt: a retry minutes later carries its own, fresh timestamp.
      const timestamp = Math.floor(Date.now() / 1000);
      headers['X-Pgwarden-Timestamp'] = String(timestamp);
      headers['X-Pgwarden-Signature'] = signature(hook.secret, timestamp, body);
      const outcome = await this.#attempt(hook.url, headers, body);
      if (outcome === 'ok') {
        this.#log.debug({ host, event, review: review.id, attempt: attempt + 1 }, 'review webhook delivered');
        return;
      }
      const retry = outcome.retry && attempt < this.#delays.length;
      this.#log.warn({ host, event, review: review.id, attempt: attempt + 1, reason: outcome.reason, retry }, 'review webhook delivery failed');
      if (!retry) return;
      if (!(await this.#sleep(jitter(this.#delays[attempt])))) return;
    }
  }

  async #attempt(url: string, headers: Record<string, string>, body: string): Promise<'ok' | { retry: boolean; reason: string }> {
    try {
      const res = await this.#fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#stop.signal]),
      });
      // The body is not needed; read it so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'ok';
      return { retry: res.status >= 500 || res.status === 408 || res.status === 429, reason: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      return { retry: true, reason: e.cause?.code ?? e.name ?? 'network error' };
    }
  }

  /** Sleep unless stopped first; false when stopped. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      timer.unref();
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function jitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}
