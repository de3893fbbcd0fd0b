/**
 * Which bind parameters a statement uses only as the first argument of `current_setting`. The
 * server gives a parameter of no declared type the type of its first use; used only there, it is
 * text (current_setting takes text), so its value is the setting name the server reads. Used
 * anywhere else too, the server may give it another type and convert it to text by that type's
 * code (a cast a user created), and the value the gateway reads would not be the name.
 *
 * Read from PostgreSQL's own scanner (comments skipped), so a `$1` inside a string, a comment or
 * a dollar-quoted body is not one. Pure.
 */
import { scanTokens, type ScannedToken } from './parser.ts';

const COMMENTS = new Set(['C_COMMENT', 'SQL_COMMENT']);

function isName(t: ScannedToken | undefined, name: string): boolean {
  if (!t || t.kind !== 'IDENT') return false;
  return t.text.startsWith('"') ? t.text === `"${name}"` : t.text.toLowerCase() === name;
}

/** The parameter numbers every use of which is `[pg_catalog.]current_setting($n` followed by `)` or `,`. */
export function settingOnlyParams(text: string): Set<number> {
  const tokens = (scanTokens(text) ?? []).filter((t) => !COMMENTS.has(t.kind));
  const only = new Set<number>();
  const elsewhere = new Set<number>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind !== 'PARAM') continue;
    const n = Number(t.text.slice(1));
    const callOpen = tokens[i - 1]?.text === '(' && isName(tokens[i - 2], 'current_setting');
    // Qualified, the schema is pg_catalog: `pg_catalog . current_setting (`.
    const qualifier = tokens[i - 3];
    const qualifiedOk = qualifier?.text !== '.' || isName(tokens[i - 4], 'pg_catalog');
    const next = tokens[i + 1]?.text;
    if (callOpen && qualifiedOk && (next === ')' || next === ',')) only.add(n);
    else elsewhere.add(n);
  }
  for (const n of elsewhere) only.delete(n);
  return only;
}
