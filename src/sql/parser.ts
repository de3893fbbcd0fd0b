/**
 * The one place libpg-query is used: load the WASM module once, parse text into statement nodes
 * with their own text, and turn parse errors into `SqlSyntaxError` with PostgreSQL's position.
 */
import { loadModule, parseSync } from 'libpg-query';
import type { Node } from './ast.ts';
import { SqlSyntaxError } from './types.ts';

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
export function parseStatements(text: string): ParsedStatement[] {
  if (!ready) throw new Error('the SQL parser is not loaded: await loadParser() first');
  const nul = text.indexOf('\u0000');
  if (nul >= 0) throw new SqlSyntaxError('query text contains a NUL character', nul + 1);
  // libpg-query refuses empty input outright; PostgreSQL answers it with EmptyQueryResponse.
  if (text.trim().length === 0) return [];
  let tree: { stmts?: { stmt?: Node; stmt_location?: number; stmt_len?: number }[] };
  try {
    tree = parseSync(text) as typeof tree;
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const message = details?.message ?? (err instanceof Error ? err.message : String(err));
    // libpg-query reports PostgreSQL's 1-based character cursor minus one.
    const pos = details?.cursorPosition;
    throw new SqlSyntaxError(message, pos !== undefined && pos >= 0 ? pos + 1 : undefined);
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
