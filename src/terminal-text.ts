/**
 * Untrusted text made safe to print on a terminal: every command-line printer of text that a
 * client, a token or a database chose (statement text, application_name, subjects, comments,
 * captured values, error messages) goes through these functions.
 *
 * A terminal obeys what it is sent: ESC starts a control sequence (move the cursor, erase a line,
 * hide text, set the window title), CR returns to the start of the line so that what follows
 * overwrites what came before, and Unicode's bidirectional and format characters reorder or hide
 * text. Printed raw, a statement held for review such as
 * `drop table victim /*<CR>drop table scratch;<ESC>[8m*\/` shows the approver a different
 * statement from the one the approval runs, and a newline in `application_name` forges a whole
 * audit line. So these characters MUST NOT reach a terminal as themselves: each is written as a
 * visible escape (`\x1b`, `\r`, `\u{202e}`), which shows that it is there and what it is.
 *
 * Escaped: the C0 controls and DEL and the C1 controls (Unicode's Cc), every format character
 * (Cf: the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, the marks
 * U+200E/U+200F/U+061C, zero-width characters, the tag characters), the line and paragraph
 * separators (U+2028, U+2029) and lone surrogates. A backslash is left as it is: SQL uses it, and a
 * literal `\x1b` in the text only shows as those four characters, as the escape does.
 */

const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
/** As UNSAFE, but a tab stays: a multi-line statement's indentation. */
const UNSAFE_BUT_TAB = /(?!\t)[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
/** As UNSAFE, but tabs and newlines stay: a block of several lines. */
const UNSAFE_IN_BLOCK = /(?![\t\n])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.codePointAt(0) as number;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `text` on one line with every control, format and separator character (newlines too) escaped. */
export function visible(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * `text` folded to one line (runs of whitespace become one space), escaped as `visible` does, and
 * cut to `max` characters before escaping (a cut ends with `…`).
 */
export function visibleOneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return visible(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}

/**
 * `text`'s lines (split at LF only; a CR is escaped), each escaped as `visible` does but keeping
 * its tabs. A printer MUST still mark the lines after the first as continuation lines (see
 * `continued`), or a statement's second line could pass for a line of the printer's own.
 */
export function visibleLines(text: string): string[] {
  return text.split('\n').map((line) => line.replace(UNSAFE_BUT_TAB, escapeOne));
}

/**
 * A multi-line text under a label: the first line after `first`, each further one after `more`,
 * which MUST differ visibly from the start of any line the printer writes itself (a `|` gutter),
 * so that no line of the text can pass for one of them.
 */
export function continued(text: string, first: string, more: string): string[] {
  return visibleLines(text).map((line, i) => `${i === 0 ? first : more}${line}`);
}

/**
 * `text` cut into runs of text that print as themselves (tabs and newlines included) and the
 * characters `visible` escapes, each given as its escape: for a printer that marks the escapes up
 * (the web console shows them in a box of their own, so that they cannot pass for typed text).
 */
export function visibleParts(text: string): { text: string; escaped: boolean }[] {
  const parts: { text: string; escaped: boolean }[] = [];
  let at = 0;
  for (const m of text.matchAll(UNSAFE_IN_BLOCK)) {
    const i = m.index as number;
    if (i > at) parts.push({ text: text.slice(at, i), escaped: false });
    parts.push({ text: escapeOne(m[0]), escaped: true });
    at = i + m[0].length;
  }
  if (at < text.length) parts.push({ text: text.slice(at), escaped: false });
  return parts;
}
