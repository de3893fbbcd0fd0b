import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../protocol/index.ts';
import { createCopyState, escapeText, flushCopy, maskCopyData, type CopyOptions } from './copy.ts';
import { constantMasker, nullMasker } from './maskers.ts';
import type { CellMasker, MaskPlan } from './types.ts';
import { copyBody, copyData } from './test-builders.ts';

function plan(columns: (CellMasker | null)[]): MaskPlan {
  return { columns, any: columns.some((c) => c !== null), described: [], notes: [] };
}

/** Shows what the masker was given (the unescaped value) and gives back a value needing escapes. */
const echo: CellMasker = { label: 'echo', mask: (v) => Buffer.from(`[${v.toString()}]`) };
const tricky = constantMasker('tricky', 'a\tb\nc\\d,"e"');

/** Run a whole COPY stream (as chunks of bytes) through the rewriter; returns what the client gets. */
function stream(chunks: string[], p: MaskPlan, format: 'text' | 'csv', options?: CopyOptions): string {
  const st = createCopyState(format, options);
  let got = '';
  for (const c of chunks) got += copyBody(maskCopyData(copyData(c), p, format, st));
  return got + copyBody(flushCopy(p, format, st));
}

/** Every way of cutting `text` in two (and in three at a few points). */
function splits(text: string): string[][] {
  const b = Buffer.from(text);
  const out: string[][] = [[b.toString('latin1')]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i).toString('latin1'), b.subarray(i).toString('latin1')]);
  for (let i = 1; i + 2 < b.length; i += 3) out.push([b.subarray(0, i).toString('latin1'), b.subarray(i, i + 2).toString('latin1'), b.subarray(i + 2).toString('latin1')]);
  return out;
}

/** Like stream, but chunks are latin1-encoded byte slices (cuts may fall inside a UTF-8 character). */
function streamBytes(chunks: string[], p: MaskPlan, format: 'text' | 'csv'): string {
  const st = createCopyState(format);
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const out = maskCopyData(copyData(Buffer.from(c, 'latin1')), p, format, st);
    if (out.length > 0) parts.push(out.subarray(5));
  }
  const last = flushCopy(p, format, st);
  if (last.length > 0) parts.push(last.subarray(5));
  return Buffer.concat(parts).toString('utf8');
}

describe('COPY text format', () => {
  const cases: [string, string, (CellMasker | null)[], string][] = [
    ['masks a plain value', '1\tjane@x.io\tok\n', [null, echo, null], '1\t[jane@x.io]\tok\n'],
    ['unescapes before masking, escapes after', '1\ta\\tb\\nc\\\\d\tok\n', [null, echo, null], '1\t[a\\tb\\nc\\\\d]\tok\n'],
    ['reads octal and hex escapes (a control character is written raw, as COPY does)', '\\101\\x42\\x4\n', [echo], '[AB\u0004]\n'],
    ['escapes what the masker returns', '1\tx\n', [null, tricky], '1\ta\\tb\\nc\\\\d,"e"\n'],
    ['keeps \\N as NULL and writes NULL as \\N', '\\N\tx\n', [echo, nullMasker('n')], '\\N\t\\N\n'],
    ['several rows in one message', '1\ta\n2\tb\n3\tc\n', [null, echo], '1\t[a]\n2\t[b]\n3\t[c]\n'],
    ['an escaped delimiter is data', 'a\\\tb\tc\n', [echo, null], '[a\\tb]\tc\n'],
    ['a multi-byte value', 'Zoë\t日本\n', [echo, null], '[Zoë]\t日本\n'],
  ];
  for (const [name, input, cols, want] of cases) {
    it(name, () => assert.equal(stream([input], plan(cols), 'text'), want));
    it(`${name}, at every split point`, () => {
      for (const chunks of splits(input)) assert.equal(streamBytes(chunks, plan(cols), 'text'), want, `split ${JSON.stringify(chunks)}`);
    });
  }
  it('passes the header row untouched', () => {
    assert.equal(stream(['id\temail\n1\tx\n'], plan([null, echo]), 'text', { header: true }), 'id\temail\n1\t[x]\n');
  });
  it('uses a custom delimiter and NULL string', () => {
    assert.equal(stream(['1|a\\|b|NIL\n'], plan([null, echo, echo]), 'text', { delimiter: '|', null: 'NIL' }), '1|[a\\|b]|NIL\n');
  });
  it('masks a last row that had no newline at CopyDone', () => assert.equal(stream(['1\ta\n2\tb'], plan([null, echo]), 'text'), '1\t[a]\n2\t[b]'));
  it('returns the SAME Buffer when no masked value changes', () => {
    const frame = copyData('1\t\\N\n');
    assert.equal(maskCopyData(frame, plan([null, echo]), 'text', createCopyState('text')), frame);
  });
  it('returns the same Buffer when the plan masks nothing', () => {
    const frame = copyData('1\tpartial');
    assert.equal(maskCopyData(frame, plan([null, null]), 'text', createCopyState('text')), frame);
  });
  it('holds a partial row: sends nothing until its end arrives', () => {
    const st = createCopyState('text');
    assert.equal(maskCopyData(copyData('1\tjan'), plan([null, echo]), 'text', st).length, 0);
    assert.equal(copyBody(maskCopyData(copyData('e\n2'), plan([null, echo]), 'text', st)), '1\t[jane]\n');
  });
  it('refuses a row whose field count differs from the plan', () => {
    assert.throws(() => stream(['1\t2\t3\n'], plan([null, echo]), 'text'), ProtocolError);
  });
  it('escapeText returns the same buffer when nothing needs escaping', () => {
    const v = Buffer.from('plain');
    assert.equal(escapeText(v, 9), v);
  });
});

describe('COPY CSV format', () => {
  const cases: [string, string, (CellMasker | null)[], string][] = [
    ['masks a plain value, always quoted', '1,jane@x.io,ok\n', [null, echo, null], '1,"[jane@x.io]",ok\n'],
    ['unquotes before masking', '1,"a,b ""c""",ok\n', [null, echo, null], '1,"[a,b ""c""]",ok\n'],
    ['an embedded newline inside quotes is data', '1,"line1\nline2",ok\n2,x,y\n', [null, echo, null], '1,"[line1\nline2]",ok\n2,"[x]",y\n'],
    ['an unquoted empty field is NULL, a quoted one is the empty string', ',""\n', [echo, echo], ',"[]"\n'],
    ['NULL from a masker is the unquoted NULL string', '1,secret\n', [null, nullMasker('n')], '1,\n'],
    ['quotes what the masker returns', '1,x\n', [null, tricky], '1,"a\tb\nc\\d,""e"""\n'],
    ['CRLF line endings stay', '1,a\r\n2,b\r\n', [null, echo], '1,"[a]"\r\n2,"[b]"\r\n'],
  ];
  for (const [name, input, cols, want] of cases) {
    it(name, () => assert.equal(stream([input], plan(cols), 'csv'), want));
    it(`${name}, at every split point`, () => {
      for (const chunks of splits(input)) assert.equal(streamBytes(chunks, plan(cols), 'csv'), want, `split ${JSON.stringify(chunks)}`);
    });
  }
  it('an ESCAPE other than the quote', () => {
    assert.equal(stream(['1,"a\\"b\\\\c"\n'], plan([null, echo]), 'csv', { escape: '\\' }), '1,"[a\\"b\\\\c]"\n');
  });
  it('an ESCAPE other than the quote, a quote escaped across a split', () => {
    const st = createCopyState('csv', { escape: '\\' });
    const p = plan([null, echo]);
    const a = maskCopyData(copyData('1,"a\\'), p, 'csv', st);
    const b = maskCopyData(copyData('"\nb"\n'), p, 'csv', st);
    assert.equal(copyBody(a) + copyBody(b), '1,"[a\\"\nb]"\n');
  });
  it('a header row with quoted names passes untouched', () => {
    assert.equal(stream(['"id","e,mail"\n1,x\n'], plan([null, echo]), 'csv', { header: true }), '"id","e,mail"\n1,"[x]"\n');
  });
});
