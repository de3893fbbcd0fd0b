/** The console's SQL highlighter: token kinds, the text kept byte for byte, and nothing becomes markup. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { highlightSql, tokenizeSql, type SqlTokenKind } from './sql-highlight.ts';

const kinds = (sql: string) => tokenizeSql(sql).filter((t) => t.kind !== 'space').map((t) => [t.kind, t.text] as [SqlTokenKind, string]);

describe('tokenizeSql', () => {
  const cases: [string, string, [SqlTokenKind, string][]][] = [
    ['keywords in any case, names as identifiers', 'DROP table Orders', [['keyword', 'DROP'], ['keyword', 'table'], ['identifier', 'Orders']]],
    ['a string with a doubled quote is one string', "select 'it''s'", [['keyword', 'select'], ['string', "'it''s'"]]],
    ['an escape string ends past a backslashed quote', "E'a\\'b' x", [['string', "E'a\\'b'"], ['identifier', 'x']]],
    ['a dollar-quoted body is one string, keywords inside included', 'do $f$ drop table t; $f$', [['keyword', 'do'], ['string', '$f$ drop table t; $f$']]],
    ['parameters', 'where id = $1', [['keyword', 'where'], ['identifier', 'id'], ['other', '='], ['param', '$1']]],
    ['numbers, decimal and exponent', 'limit 10 offset 1.5e3', [['keyword', 'limit'], ['number', '10'], ['keyword', 'offset'], ['number', '1.5e3']]],
    ['a line comment runs to the end of the line', 'select 1 -- drop it\n', [['keyword', 'select'], ['number', '1'], ['comment', '-- drop it']]],
    ['block comments nest', '/* a /* b */ c */ x', [['comment', '/* a /* b */ c */'], ['identifier', 'x']]],
    ['a quoted identifier is not a keyword', 'select "select"', [['keyword', 'select'], ['quoted', '"select"']]],
    ['an unterminated string runs to the end', "select 'oops", [['keyword', 'select'], ['string', "'oops"]]],
    ['an unterminated comment runs to the end', 'x /* open', [['identifier', 'x'], ['comment', '/* open']]],
    ['identifiers may hold digits and dollars', 'tbl_2$x', [['identifier', 'tbl_2$x']]],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(kinds(sql), want));

  it('the tokens concatenate back to the exact text', () => {
    for (const sql of ["select 'a' || $1 -- c\n/* d */ from \"T\" where x = E'\\\\' and y = $q$ z $q$", 'DROP TABLE x;\r\n\tTRUNCATE y', '€ unicode ✓ name', "'", '$', '/*']) {
      assert.equal(tokenizeSql(sql).map((t) => t.text).join(''), sql, `round trip of ${JSON.stringify(sql)}`);
    }
  });
});

describe('highlightSql', () => {
  it('wraps tokens in spans', () => {
    assert.equal(highlightSql('drop table x').text, '<span class="kw">drop</span> <span class="kw">table</span> <span class="id">x</span>');
  });
  it('escapes markup wherever it appears: strings, comments, quoted names, bare text', () => {
    const out = highlightSql(`select '<script>' /* </pre><img src=x> */ from "a&b" where 1 < 2 -- "'>`).text;
    assert.doesNotMatch(out, /<script|<img|<\/pre/, 'no markup from the statement survives');
    assert.match(out, /<span class="str">&#39;&lt;script&gt;&#39;<\/span>/, 'the string is escaped inside its span');
    assert.match(out, /<span class="id">&quot;a&amp;b&quot;<\/span>/, 'the quoted name is escaped');
    assert.match(out, / &lt; /, 'bare operators are escaped');
  });
  it('shows bidi, format and control characters as marked escapes, never as themselves', () => {
    // A right-to-left override in a comment would make the browser show what follows it reversed:
    // "drop table victim /* \u202e ;hctarcs elbat pord */" reads as a harmless statement.
    const out = highlightSql('drop table victim /*\u202e ;hctarcs elbat pord\u202c */\x1b[8m\u2066x\u2069\rselect 1\n\tdone').text;
    assert.doesNotMatch(out, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/, 'none reaches the page as itself');
    assert.match(out, /<span class="com">\/\*<span class="ctl" title="[^"]+">\\u\{202e\}<\/span> ;hctarcs elbat pord<span class="ctl" title="[^"]+">\\u\{202c\}<\/span> \*\/<\/span>/);
    assert.match(out, /<span class="ctl" title="[^"]+">\\x1b<\/span>/);
    assert.match(out, /<span class="ctl" title="[^"]+">\\r<\/span>/);
    assert.match(out, /\n\t<span class="id">done<\/span>$/, 'newlines and tabs stay, for a statement of several lines');
  });
});
