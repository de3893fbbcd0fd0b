import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { continued, visible, visibleLines, visibleOneLine } from './terminal-text.ts';

describe('terminal text', () => {
  const cases: [string, string, string][] = [
    ['ESC of a control sequence is shown, not obeyed', 'a\x1b[2Kb', 'a\\x1b[2Kb'],
    ['CR cannot return to the start of the line', 'drop table victim /*\rdrop table scratch', 'drop table victim /*\\rdrop table scratch'],
    ['a newline is escaped on one line', 'psql\n2026-12-08 forged', 'psql\\n2026-12-08 forged'],
    ['NUL, BEL, backspace, DEL', 'a\x00\x07\x08\x7fz', 'a\\x00\\x07\\x08\\x7fz'],
    ['C1 controls (CSI as one character)', 'a\u009b31mb\u0085', 'a\\x9b31mb\\x85'],
    ['bidi override and isolates', 'a\u202eevil\u202c \u2066x\u2069', 'a\\u{202e}evil\\u{202c} \\u{2066}x\\u{2069}'],
    ['bidi marks', '\u200e\u200f\u061c', '\\u{200e}\\u{200f}\\u{61c}'],
    ['zero-width and tag characters', 'a\u200bb\u{e0041}', 'a\\u{200b}b\\u{e0041}'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a\\u{2028}b\\u{2029}c'],
    ['a lone surrogate', 'a\ud800b', 'a\\u{d800}b'],
    ['ordinary text, accents and emoji are unchanged', 'SELECT \'café\', \'日本\' -- 👍 \\x1b', 'SELECT \'café\', \'日本\' -- 👍 \\x1b'],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(visible(input), want));

  it('one line: whitespace folded, then escaped, then cut', () => {
    assert.equal(visibleOneLine('select 1\n  from t\x1b[8m', 100), 'select 1 from t\\x1b[8m');
    assert.equal(visibleOneLine('abcdefgh', 5), 'abcd…');
  });

  it('lines: split at LF, tabs kept, everything else escaped', () => {
    assert.deepEqual(visibleLines('select\n\tx\r\n\x1b[31m'), ['select', '\tx\\r', '\\x1b[31m']);
  });

  it('continued: every line after the first behind the gutter', () => {
    assert.deepEqual(continued('select 2 as x\n     +0.001s  DENY   DROP TABLE t', '+0.000s  ALLOW  ', '        | '), ['+0.000s  ALLOW  select 2 as x', '        |      +0.001s  DENY   DROP TABLE t']);
  });
});
