/**
 * The one place libpg-query is used: load the WASM module once, parse text into statement nodes
 * with their own text, and turn parse errors into `SqlSyntaxError` with PostgreSQL's position.
 *
 * Parsing costs about a millisecond per kilobyte of dense SQL (a megabyte of `select 1;` takes
 * some 650 ms in the WASM parser), and the event loop serves every session: a text of
 * `OFF_LOOP_CHARS` or more is parsed first on a worker thread (`parseAhead`), and
 * `parseStatements` then takes that result instead of parsing again. What remains on the event
 * loop for such a text is reading the tree (JSON) and the analysis.
 */
import { Worker } from 'node:worker_threads';
import { loadModule, parseSync, scanSync } from 'libpg-query';
import type { Node } from './ast.ts';
import { SqlParserFailure, SqlSyntaxError, SqlTooManyNodes } from './types.ts';

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the parser (idempotent; concurrent callers share the one load). */
export function loadParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

export interface ParsedStatement {
  /** The statement node, wrapped: `{ SelectStmt: … }`. */
  stmt: Node;
  /** The statement's own text, trimmed. */
  text: string;
}

/**
 * Parses `text` into its statements. Throws `SqlSyntaxError` on a syntax error (position is
 * 1-based, in characters as PostgreSQL counts them).
 *
 * Statement boundaries are UTF-8 byte offsets: `stmt_location` is omitted for the first
 * statement (0) and `stmt_len` for the last (to the end).
 */
export function parseStatements(text: string, maxNodes = Infinity): ParsedStatement[] {
  if (!ready) throw new Error('the SQL parser is not loaded: await loadParser() first');
  const nul = text.indexOf('\u0000');
  if (nul >= 0) throw new SqlSyntaxError('query text contains a NUL character', nul + 1);
  // libpg-query refuses empty input outright; PostgreSQL answers it with EmptyQueryResponse.
  if (text.trim().length === 0) return [];
  let tree: { stmts?: { stmt?: Node; stmt_location?: number; stmt_len?: number }[] };
  const early = takeAhead(text);
  if (early && 'error' in early) throw early.error;
  // Reading and analysing a tree costs the event loop about half a microsecond to a microsecond
  // per node, whoever else waits: a denser statement is refused before its tree is read.
  if (early && (early.nodes > maxNodes || early.json === undefined)) throw new SqlTooManyNodes(early.nodes, maxNodes);
  try {
    tree = (early?.json !== undefined ? JSON.parse(early.json) : parseSync(text)) as typeof tree;
  } catch (err) {
    throw parserError(err);
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length === 0) return [];
  // ASCII text: byte offsets are string offsets, no Buffer needed.
  const ascii = !/[^\x00-\x7f]/.test(text);
  const buf = ascii ? undefined : Buffer.from(text, 'utf8');
  const total = buf ? buf.length : text.length;
  const out: ParsedStatement[] = [];
  for (const s of stmts) {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len !== undefined ? start + s.stmt_len : total;
    const slice = buf ? buf.toString('utf8', start, end) : text.slice(start, end);
    out.push({ stmt: s.stmt ?? {}, text: slice.trim() });
  }
  return out;
}

/** One token of PostgreSQL's own scanner: byte offsets into the text, and its kind. */
export interface ScannedToken {
  start: number;
  end: number;
  /** The scanner's token name where it has one (`ICONST`, `FCONST`, `SCONST`, `PARAM`, `IDENT`, …). */
  kind: string;
  text: string;
}

/**
 * The tokens of `text` as PostgreSQL's scanner (scan.l, through libpg-query) reads them, comments
 * included; null when the scanner refuses the text (an unterminated literal, a bad escape).
 */
export function scanTokens(text: string): ScannedToken[] | null {
  if (!ready) throw new Error('the SQL parser is not loaded: await loadParser() first');
  try {
    return scanSync(text).tokens.map((t) => ({ start: t.start, end: t.end, kind: t.tokenName, text: t.text }));
  } catch {
    return null;
  }
}

/**
 * What libpg-query threw, as an error a client can read. A syntax error carries `sqlDetails`
 * (PostgreSQL's message and cursor). Anything else means the parser did not finish: the WASM
 * module exits (an emscripten `ExitStatus`, not an Error) when PostgreSQL's parser runs out of
 * memory or stack, and that becomes a `SqlParserFailure` naming the cause, never the thrown
 * value stringified.
 */
export function parserError(err: unknown): SqlSyntaxError | SqlParserFailure {
  const details = (err as { sqlDetails?: { message?: unknown; cursorPosition?: unknown } } | null)?.sqlDetails;
  if (details && typeof details.message === 'string' && details.message.length > 0) {
    // libpg-query reports PostgreSQL's 1-based character cursor minus one.
    const pos = typeof details.cursorPosition === 'number' && details.cursorPosition >= 0 ? details.cursorPosition + 1 : undefined;
    return new SqlSyntaxError(details.message, pos);
  }
  const raw = err instanceof Error ? err.message : typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : '';
  const why = /memory|exit|abort|stack|terminated/i.test(raw) || raw === '' ? 'it ran out of memory or stack' : raw;
  return new SqlParserFailure(`pgwarden: the statement is too large or too complex to be checked (the SQL parser could not finish: ${why})`);
}

// ---- parsing off the event loop ------------------------------------------------------------

/** Texts at least this long are parsed on the worker thread first. */
export const OFF_LOOP_CHARS = 16 * 1024;
/**
 * Parsed-ahead results are kept up to this many characters (texts and trees) in all, oldest
 * dropped first: a text analysed under several search_path values is read from here each time.
 */
const AHEAD_MAX_CHARS = 32 * 1024 * 1024;

/** `json` is absent for a tree over the limit it was parsed with. */
type Ahead = { json?: string; nodes: number } | { error: SqlSyntaxError | SqlParserFailure };

/** Results of `parseAhead` waiting for `parseStatements`, oldest first. */
const ahead = new Map<string, Ahead>();
let aheadChars = 0;
const inFlight = new Map<string, Promise<void>>();

let worker: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, { text: string; resolve: () => void }>();

const sizeOf = (text: string, r: Ahead): number => text.length + ('json' in r ? (r.json?.length ?? 0) : 0);

function keepAhead(text: string, result: Ahead): void {
  if (ahead.has(text)) return;
  ahead.set(text, result);
  aheadChars += sizeOf(text, result);
  while (aheadChars > AHEAD_MAX_CHARS && ahead.size > 1) {
    const [oldest, r] = ahead.entries().next().value as [string, Ahead];
    ahead.delete(oldest);
    aheadChars -= sizeOf(oldest, r);
  }
}

function takeAhead(text: string): Ahead | undefined {
  return ahead.get(text);
}

function startWorker(): Worker {
  const w = new Worker(new URL('./parse-worker.mjs', import.meta.url));
  w.on('message', (m: { id?: number; json?: string; nodes?: number; error?: unknown }) => {
    if (m.id === undefined) return;
    const job = waiting.get(m.id);
    if (!job) return;
    waiting.delete(m.id);
    keepAhead(job.text, m.nodes !== undefined ? { json: m.json, nodes: m.nodes } : { error: parserError(m.error) });
    if (waiting.size === 0) w.unref();
    job.resolve();
  });
  const gone = (why: string): void => {
    if (worker === w) worker = null;
    // Whatever it was parsing did not finish: those statements are refused, readably.
    for (const [id, job] of waiting) {
      waiting.delete(id);
      keepAhead(job.text, { error: parserError(new Error(why)) });
      job.resolve();
    }
  };
  w.on('error', (err) => gone(err.message));
  w.on('exit', (code) => gone(`the parser exited (${code}), out of memory or stack`));
  // After the listeners (attaching one refs the port again): an idle thread keeps no process
  // alive; one with work pending does, like any I/O in flight.
  w.unref();
  return w;
}

/**
 * For a text of `OFF_LOOP_CHARS` or more not already parsed ahead: parses it on the worker
 * thread and resolves (never rejects) once the next `parseStatements(text)` can take the result.
 * Null when there is nothing to wait for.
 */
export function parseAhead(text: string, maxNodes = Infinity): Promise<void> | null {
  if (text.length < OFF_LOOP_CHARS) return null;
  const known = ahead.get(text);
  // Parsed with a higher limit and kept whole, or refused under this one: nothing to wait for.
  if (known && ('error' in known || known.json !== undefined || known.nodes > maxNodes)) return null;
  if (known) {
    // Refused under a lower limit (a config reload raised it): parse it again.
    ahead.delete(text);
    aheadChars -= sizeOf(text, known);
  }
  const running = inFlight.get(text);
  if (running) return running;
  worker ??= startWorker();
  const id = nextId++;
  const p = new Promise<void>((resolve) => {
    waiting.set(id, { text, resolve });
  }).finally(() => inFlight.delete(text));
  inFlight.set(text, p);
  worker.ref();
  worker.postMessage({ id, text, maxNodes });
  return p;
}

/** Ends the worker thread (tests; it is unref'd, so a process exits without this). */
export async function stopParseWorker(): Promise<void> {
  const w = worker;
  worker = null;
  if (w) await w.terminate();
}
