/**
 * SQL syntax highlighting for the console, on the server: a small tokenizer splits the text into
 * keywords, strings, numbers, comments, identifiers, parameters and the rest, and each token is
 * wrapped in a `<span class="…">` with its text escaped.
 *
 * It is for the eye only, never for a decision: the text shown is exactly the text given (the
 * tokens concatenate back to it, a test checks this), whatever it holds. An unterminated string or
 * comment runs to the end of the text, as PostgreSQL would read it. Every token passes through
 * `html`, so nothing in a statement can become markup.
 */
import { html, visibleText, type SafeHtml } from './html.ts';

export type SqlTokenKind = 'keyword' | 'string' | 'number' | 'comment' | 'identifier' | 'quoted' | 'param' | 'space' | 'other';

export interface SqlToken {
  kind: SqlTokenKind;
  text: string;
}

/** Reserved and common non-reserved words worth telling apart from names; matched case-insensitively. */
const KEYWORDS = new Set(
  `all alter analyze and any array as asc begin between by cascade case cast check column commit
  concurrently constraint copy create cross current_date current_timestamp current_user database default
  delete desc distinct do drop else end except exists explain false fetch for foreign from full function
  grant group having if ilike in index inner insert intersect into is join key lateral left like limit
  lock materialized merge not null nulls offset on only or order outer owner partition primary
  procedure references rename replace restrict returning revoke right role rollback schema select sequence
  set show table tablespace temp temporary then to transaction trigger true truncate union unique
  update using vacuum values verbose view when where window with`.split(/\s+/),
);

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;
const NUMBER = /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)/;

export function tokenizeSql(text: string): SqlToken[] {
  const out: SqlToken[] = [];
  let i = 0;
  const push = (kind: SqlTokenKind, end: number) => {
    const piece = text.slice(i, end);
    const last = out[out.length - 1];
    // Runs of the same plain kind merge, so punctuation and spaces do not make a span each.
    if (last && last.kind === kind && (kind === 'space' || kind === 'other')) last.text += piece;
    else out.push({ kind, text: piece });
    i = end;
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      push('space', j);
    } else if (c === '-' && next === '-') {
      const nl = text.indexOf('\n', i);
      push('comment', nl === -1 ? text.length : nl);
    } else if (c === '/' && next === '*') {
      push('comment', blockCommentEnd(text, i));
    } else if (c === "'") {
      push('string', quotedEnd(text, i + 1, "'", false));
    } else if ((c === 'E' || c === 'e') && next === "'") {
      push('string', quotedEnd(text, i + 2, "'", true));
    } else if ((c === 'B' || c === 'b' || c === 'X' || c === 'x' || c === 'N' || c === 'n') && next === "'") {
      push('string', quotedEnd(text, i + 2, "'", false));
    } else if ((c === 'U' || c === 'u') && next === '&' && (text[i + 2] === "'" || text[i + 2] === '"')) {
      const q = text[i + 2];
      push(q === "'" ? 'string' : 'quoted', quotedEnd(text, i + 3, q, false));
    } else if (c === '"') {
      push('quoted', quotedEnd(text, i + 1, '"', false));
    } else if (c === '$') {
      const param = /^\$\d+/.exec(text.slice(i, i + 12));
      const tag = param ? null : DOLLAR_TAG.exec(text.slice(i, i + 66));
      if (param) push('param', i + param[0].length);
      else if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        push('string', close === -1 ? text.length : close + tag[0].length);
      } else push('other', i + 1);
    } else if (/\d/.test(c) || (c === '.' && next !== undefined && /\d/.test(next))) {
      const m = NUMBER.exec(text.slice(i, i + 400));
      push('number', i + (m ? m[0].length : 1));
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < text.length && IDENT_PART.test(text[j])) j++;
      push(KEYWORDS.has(text.slice(i, j).toLowerCase()) ? 'keyword' : 'identifier', j);
    } else {
      push('other', i + 1);
    }
  }
  return out;
}

/** After the opening quote at `from`: the index just past the closing quote (a doubled quote is one character). */
function quotedEnd(text: string, from: number, quote: string, backslashes: boolean): number {
  let j = from;
  while (j < text.length) {
    const ch = text[j];
    if (backslashes && ch === '\\') j += 2;
    else if (ch === quote) {
      if (text[j + 1] === quote) j += 2;
      else return j + 1;
    } else j++;
  }
  return text.length;
}

/** PostgreSQL's block comments nest. */
function blockCommentEnd(text: string, from: number): number {
  let depth = 0;
  let j = from;
  while (j < text.length) {
    if (text[j] === '/' && text[j + 1] === '*') {
      depth++;
      j += 2;
    } else if (text[j] === '*' && text[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return text.length;
}

const CLASS: Record<SqlTokenKind, string | undefined> = {
  keyword: 'kw',
  string: 'str',
  number: 'num',
  comment: 'com',
  identifier: 'id',
  quoted: 'id',
  param: 'prm',
  space: undefined,
  other: undefined,
};

/** The statement as escaped HTML with a span per token (for a `<pre class="sql">`). */
export function highlightSql(text: string): SafeHtml {
  return html`${tokenizeSql(text).map((t) => {
    const cls = CLASS[t.kind];
    return cls === undefined ? visibleText(t.text) : html`<span class="${cls}">${visibleText(t.text)}</span>`;
  })}`;
}
