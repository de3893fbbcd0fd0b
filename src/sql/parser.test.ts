/**
 * Parser failures a client can read, and parsing off the event loop: a long text is parsed on the
 * worker thread, and the event loop stays free meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OFF_LOOP_CHARS, loadParser, parseAhead, parseStatements, parserError, stopParseWorker } from './parser.ts';
import { SqlParserFailure, SqlSyntaxError, SqlTooManyNodes } from './types.ts';

before(() => loadParser());
after(() => stopParseWorker());

describe('parserError', () => {
  const cases: { name: string; thrown: unknown; kind: typeof SqlSyntaxError | typeof SqlParserFailure; message: RegExp; position?: number }[] = [
    { name: 'a syntax error keeps PostgreSQL\'s message and cursor', thrown: Object.assign(new Error('syntax error at or near "x"'), { sqlDetails: { message: 'syntax error at or near "x"', cursorPosition: 7 } }), kind: SqlSyntaxError, message: /^syntax error at or near "x"$/, position: 8 },
    // The WASM module throws an emscripten ExitStatus (not an Error) when the parser runs out of memory.
    { name: 'an ExitStatus object', thrown: { name: 'ExitStatus', message: 'Program terminated with exit(1)', status: 1 }, kind: SqlParserFailure, message: /too large or too complex.*out of memory/ },
    { name: 'a bare object', thrown: {}, kind: SqlParserFailure, message: /too large or too complex/ },
    { name: 'a string', thrown: 'boom', kind: SqlParserFailure, message: /too large or too complex/ },
    { name: 'null', thrown: null, kind: SqlParserFailure, message: /too large or too complex/ },
    { name: 'details without a message', thrown: { sqlDetails: { message: { what: 1 } } }, kind: SqlParserFailure, message: /too large or too complex/ },
    { name: 'a RangeError', thrown: new RangeError('Maximum call stack size exceeded'), kind: SqlParserFailure, message: /out of memory or stack/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = parserError(c.thrown);
      assert.ok(e instanceof c.kind, e.constructor.name);
      assert.match(e.message, c.message);
      assert.doesNotMatch(e.message, /\[object/);
      if (c.position !== undefined) assert.equal((e as SqlSyntaxError).position, c.position);
    });
  }
});

describe('parseAhead', () => {
  it('does nothing for a short text', () => {
    assert.equal(parseAhead('select 1'), null);
  });

  it('parses a long text on the worker; parseStatements takes that result', async () => {
    const text = 'select 1;'.repeat(Math.ceil(OFF_LOOP_CHARS / 9) + 10);
    const p = parseAhead(text);
    assert.ok(p);
    assert.equal(parseAhead(text), p, 'the same text is parsed once');
    await p;
    assert.equal(parseAhead(text), null, 'parsed: nothing more to wait for');
    const stmts = parseStatements(text);
    assert.equal(stmts.length, Math.ceil(OFF_LOOP_CHARS / 9) + 10);
    assert.equal(stmts[0].text, 'select 1');
  });

  it('a syntax error found on the worker is the same SqlSyntaxError, with its position', async () => {
    const text = 'select 1 ' + ' '.repeat(OFF_LOOP_CHARS) + 'frm t';
    await parseAhead(text);
    assert.throws(() => parseStatements(text), (e: unknown) => e instanceof SqlSyntaxError && /syntax error at or near "t"/.test(e.message) && e.position === text.indexOf('t', 10) + 1);
  });

  it('keeps the event loop free while a megabyte of dense SQL is parsed', async () => {
    const text = (n: number) => 'select 1 where 1 in (' + Array.from({ length: 120_000 }, (_, i) => String(i + n)).join(',') + ')';
    // The same work on the event loop, for comparison (the machine's speed varies).
    const s0 = performance.now();
    parseStatements(text(1));
    const onLoop = performance.now() - s0;
    let worst = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    await parseAhead(text(2));
    const parsedIn = performance.now() - t0;
    clearInterval(tick);
    assert.ok(worst < onLoop / 2, `the event loop was blocked ${worst.toFixed(0)} ms while the worker parsed for ${parsedIn.toFixed(0)} ms (${onLoop.toFixed(0)} ms on the loop)`);
    assert.equal(parseStatements(text(2)).length, 1);
  });
});

describe('the node limit', () => {
  // A VALUES list of constants: about 1.25 parse-tree nodes a byte.
  const values = (rows: number) => `select count(*) from (values ${'(1),'.repeat(rows - 1)}(1)) v(x)`;
  const cases: { name: string; text: string; limit: number; refused: boolean }[] = [
    { name: 'a tree over the limit is refused, naming its size and the limit', text: values(8000), limit: 20_000, refused: true },
    { name: 'a tree under the limit is read', text: values(8000), limit: 60_000, refused: false },
    { name: 'many small statements count together', text: 'select 1;'.repeat(5000), limit: 20_000, refused: true },
    { name: 'a long literal is a few nodes', text: `select '${'x'.repeat(200_000)}'`, limit: 20_000, refused: false },
    { name: 'braces inside a literal are not nodes', text: `select '${'{"a":{}}'.repeat(30_000)}'::jsonb`, limit: 20_000, refused: false },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      assert.ok(c.text.length >= OFF_LOOP_CHARS);
      await parseAhead(c.text, c.limit);
      if (c.refused) assert.throws(() => parseStatements(c.text, c.limit), (e: unknown) => e instanceof SqlTooManyNodes && e.limit === c.limit && e.nodes > c.limit && /parse tree has \d+ nodes, over the limit of \d+ \(limits\.max_statement_nodes\)/.test(e.message));
      else assert.ok(parseStatements(c.text, c.limit).length >= 1);
    });
  }

  it('a text refused under a lower limit is parsed again under a higher one', async () => {
    const text = values(9000);
    await parseAhead(text, 20_000);
    assert.throws(() => parseStatements(text, 20_000), SqlTooManyNodes);
    const again = parseAhead(text, 100_000);
    assert.ok(again, 'parsed again');
    await again;
    assert.equal(parseStatements(text, 100_000).length, 1);
  });
});
