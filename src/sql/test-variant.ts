/**
 * Test support: a text with every literal a literal key leaves out (literal-key.ts) given another
 * value of the same class, to check that the two are decided alike.
 */
import { scanTokens } from './parser.ts';

export function literalVariant(text: string): string {
  let out = '';
  let last = 0;
  for (const t of scanTokens(text) ?? []) {
    let v: string | null = null;
    if (t.kind === 'ICONST') v = String((Number(t.text) || 0) + 7);
    else if (t.kind === 'SCONST' && /^[eE]?'/.test(t.text)) v = "'zq'";
    else if (t.kind === 'FCONST' && /[.eE]/.test(t.text)) v = '4.25';
    if (v === null) continue;
    out += text.slice(last, t.start) + v;
    last = t.end;
  }
  return out + text.slice(last);
}
