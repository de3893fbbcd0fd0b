import { visibleParts } from '../terminal-text.ts';

/**
 * HTML with escaping by default: every value interpolated into `html\`…\`` is escaped unless it
 * is itself the result of `html` (or `raw`, for text that is already HTML and never user data).
 * Arrays are joined, `null`, `undefined` and `false` render as nothing.
 */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/**
 * A statement's text for a `<pre>`: escaped, and each control, bidi or other format character
 * shown as its escape in a marked box (`\u{202e}`, `\x1b`; see terminal-text.ts) instead of
 * itself. A browser applies a right-to-left override or an isolate to what follows it, so a
 * statement could otherwise be shown in an order other than the one it runs in.
 */
export function visibleText(text: string): SafeHtml {
  return html`${visibleParts(text).map((p) => (p.escaped ? html`<span class="ctl" title="a control or format character">${p.text}</span>` : p.text))}`;
}

/** Text that is already HTML. MUST NOT be given anything that came from a request or the log. */
export function raw(text: string): SafeHtml {
  return new SafeHtml(text);
}

/** A query string from the non-empty values, for links that keep the current filters. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
