/**
 * Cache keys that leave literal values out, only where the analysis provably does not read them.
 *
 * `pgbench -M simple` (and most ORMs without server-side prepare) send
 * `SELECT abalance FROM pgbench_accounts WHERE aid = 12345;` with a new number every time. Keyed by
 * the exact text, every such statement is parsed and analysed again. Keyed by the text with its
 * literals taken out, it is analysed once — but only if nothing the gateway decides on can differ
 * between two texts with the same key. The analysis reads literal values in many places: function
 * arguments (`set_config('search_path', …)`, `nextval('seq')`, `current_setting(…)`), casts
 * (`'t'::regclass`) and type modifiers, settings, LIMIT/OFFSET, ORDER BY positions, LIKE patterns,
 * DDL/DCL/utility options and bodies, and the constant folding of the unbounded-write check
 * (`WHERE 1=1` reaches every row, `WHERE 1=2` none). So the rule is an allow list, and everything
 * else is keyed by the exact text:
 *
 * - The key comes from PostgreSQL's own scanner (`scanTokens`, libpg-query): each integer (ICONST),
 *   plain or E'' string (SCONST) and decimal/exponent number (FCONST with `.` or `e`) becomes NUL
 *   plus its class; everything else (identifiers, keywords, operators, `$n`, comments, whitespace,
 *   TRUE/FALSE/NULL, bit strings, U&'' strings, integers too large for int4) stays as written. The
 *   class fixes the type PostgreSQL gives the literal (int4, unknown, numeric), so operator
 *   resolution (a planted operator for `int4 = numeric`) cannot differ. Two texts with one key
 *   are the same token sequence but for those literals' values: same statements, same tree shape.
 * - A text gets a literal key only if, in its parse tree, EVERY replaced literal is an A_Const in
 *   one of these positions (`literalsIrrelevant`), where the analysis reads its type but never its
 *   value:
 *   - an operand of `=`, `<>`, `!=`, `<`, `>`, `<=`, `>=` whose other operand is a column
 *     reference, in the WHERE of a top-level SELECT, UPDATE or DELETE, directly or under AND/OR
 *     (not NOT: the unbounded check compares the shapes of `p OR NOT p`, values included);
 *   - an item of `column IN (…)` there;
 *   - the value of an UPDATE's `SET col = literal` or `SET col = col <+|-|*> literal`;
 *   - an item of an INSERT's VALUES list.
 *   The unbounded check folds only comparisons of two constants and a few patterns, so a column
 *   compared to a literal is "depends on the row" whatever the value; flows are recorded by
 *   operator name; provenance ignores constants.
 * - Except in a statement that names a relation `pg_settings` (in any schema, at any depth): there
 *   `name = 'max_index_keys'` in the WHERE is read by value (a read pinned to readable settings
 *   is allowed, see `settings-pin.ts`), so such a text is keyed exactly, or the analysis of one
 *   setting's name would be reused for another's.
 * - Texts with bytes outside ASCII, longer than `MAX_KEYED_CHARS`, or that the scanner refuses
 *   are keyed exactly.
 *
 * The decision on a text found by its literal key is the decision on another text of the same key;
 * the analyses (and their `text` fields) are that other text's. Callers MUST use the exact text for
 * everything that reads the text itself: the audit, reviews (the row estimate runs `a.text`), and
 * MUST analyse exactly when a review rule applies.
 *
 * Pure (the scanner is libpg-query's WASM module, no I/O).
 */
import { list, names, type Node } from './ast.ts';
import { scanTokens } from './parser.ts';

/** Longer texts are keyed exactly (scanning costs about as much as parsing). */
export const MAX_KEYED_CHARS = 8 * 1024;

export interface LiteralKey {
  /**
   * The text with each replaced literal as NUL + its class. Never equal to a statement text: a
   * text with a NUL is refused before analysis.
   */
  key: string;
  /** Per replaced literal: the offsets its A_Const may have (its own, or a minus sign's just before it). */
  anchors: number[][];
}

const DECIMAL = /^(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The class of a literal token that may be left out of the key, or null (kept as written). */
function classOf(kind: string, text: string): string | null {
  switch (kind) {
    case 'ICONST':
      // Always int4: the scanner makes an integer that does not fit an FCONST.
      return 'i';
    case 'SCONST':
      return text.startsWith("'") || /^[eE]'/.test(text) ? 's' : null;
    case 'FCONST':
      // Decimal digits with a point or an exponent are always numeric. A bare integer too large
      // for int4 is int8 or numeric by its value, and so is a hexadecimal, octal or binary one
      // (whose digits may hold an `e`), or one with underscores: those stay as written.
      return DECIMAL.test(text) && /[.eE]/.test(text) ? 'n' : null;
    default:
      return null;
  }
}

/** The literal key of `text`, or null when it has no literal to leave out or is keyed exactly. */
export function literalKey(text: string): LiteralKey | null {
  if (text.length > MAX_KEYED_CHARS || text.includes('\u0000') || !/^[\x01-\x7f]*$/.test(text)) return null;
  // Every literal left out holds a digit (ICONST, FCONST) or a quote (SCONST): a text with
  // neither has none, and the scan would find nothing (BEGIN, COMMIT, most utility statements).
  if (!/[0-9']/.test(text)) return null;
  const tokens = scanTokens(text);
  if (!tokens) return null;
  let key = '';
  let last = 0;
  const anchors: number[][] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const c = classOf(t.kind, t.text);
    if (c === null) continue;
    key += `${text.slice(last, t.start)}\u0000${c}`;
    last = t.end;
    const prev = tokens[i - 1];
    anchors.push(prev && prev.text === '-' ? [t.start, prev.start] : [t.start]);
  }
  if (anchors.length === 0) return null;
  return { key: key + text.slice(last), anchors };
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);
const ARITHMETIC = new Set(['+', '-', '*']);

function isConst(n: Node | undefined): boolean {
  return n?.A_Const !== undefined;
}

/** The single, unqualified operator name of an A_Expr (`OPERATOR(pg_catalog.=)` is not one). */
function bareOp(x: Node): string | undefined {
  const n = names(x.name);
  return n.length === 1 ? n[0] : undefined;
}

/** `column op literal` or `literal op column` with op in `ops`: the literal's A_Const node. */
function columnAgainstLiteral(e: Node | undefined, ops: Set<string>): Node | undefined {
  const x = e?.A_Expr as Node | undefined;
  if (!x || x.kind !== 'AEXPR_OP' || !ops.has(bareOp(x) ?? '')) return undefined;
  if (x.lexpr?.ColumnRef && isConst(x.rexpr)) return x.rexpr.A_Const as Node;
  if (x.rexpr?.ColumnRef && isConst(x.lexpr)) return x.lexpr.A_Const as Node;
  return undefined;
}

/** Literals of a WHERE clause in allowed positions (see the file comment). */
function whereLiterals(e: Node | undefined, out: Set<Node>): void {
  if (!e) return;
  const b = e.BoolExpr as Node | undefined;
  if (b) {
    if (b.boolop === 'AND_EXPR' || b.boolop === 'OR_EXPR') for (const a of list(b.args)) whereLiterals(a, out);
    return;
  }
  const c = columnAgainstLiteral(e, COMPARISONS);
  if (c) {
    out.add(c);
    return;
  }
  const x = e.A_Expr as Node | undefined;
  if (x?.kind === 'AEXPR_IN' && x.lexpr?.ColumnRef && (bareOp(x) === '=' || bareOp(x) === '<>')) {
    for (const item of list(x.rexpr?.List?.items ?? x.rexpr)) if (isConst(item)) out.add(item.A_Const as Node);
  }
}

/** The A_Const nodes of one statement whose values the analysis provably does not read. */
function allowedLiterals(stmt: Node, out: Set<Node>): void {
  if (stmt.SelectStmt) {
    whereLiterals((stmt.SelectStmt as Node).whereClause, out);
  } else if (stmt.DeleteStmt) {
    whereLiterals((stmt.DeleteStmt as Node).whereClause, out);
  } else if (stmt.UpdateStmt) {
    const u = stmt.UpdateStmt as Node;
    whereLiterals(u.whereClause, out);
    for (const t of list(u.targetList)) {
      const rt = t.ResTarget as Node | undefined;
      if (!rt || rt.indirection !== undefined) continue;
      if (isConst(rt.val)) out.add(rt.val.A_Const as Node);
      else {
        const c = columnAgainstLiteral(rt.val, ARITHMETIC);
        if (c) out.add(c);
      }
    }
  } else if (stmt.InsertStmt) {
    const sel = (stmt.InsertStmt as Node).selectStmt?.SelectStmt as Node | undefined;
    if (sel?.valuesLists) for (const row of list(sel.valuesLists)) for (const item of list(row.List?.items ?? row)) if (isConst(item)) out.add(item.A_Const as Node);
  }
}

/** Relations whose reads the analysis decides on WHERE literals' values (see the file comment). */
const VALUE_READ_RELATIONS: ReadonlySet<string> = new Set(['pg_settings']);

/** Whether any relation name (a RangeVar's, wrapped or bare) in the trees is one of VALUE_READ_RELATIONS. */
function namesValueReadRelation(n: unknown): boolean {
  if (Array.isArray(n)) return n.some(namesValueReadRelation);
  if (n === null || typeof n !== 'object') return false;
  for (const [k, v] of Object.entries(n)) {
    if (k === 'relname' && typeof v === 'string' && VALUE_READ_RELATIONS.has(v)) return true;
    if (namesValueReadRelation(v)) return true;
  }
  return false;
}

/** Every A_Const node in a tree, with its location (a node met twice is met twice). */
function everyConst(n: unknown, visit: (c: Node) => void): void {
  if (Array.isArray(n)) {
    for (const x of n) everyConst(x, visit);
    return;
  }
  if (n === null || typeof n !== 'object') return;
  for (const [k, v] of Object.entries(n)) {
    if (k === 'A_Const' && v && typeof v === 'object') visit(v as Node);
    everyConst(v, visit);
  }
}

/**
 * Whether every literal `key` leaves out is, in the parse tree of the text it was made from
 * (`stmts`, with locations as byte offsets into that text), an A_Const in an allowed position:
 * then no value of those literals changes the analysis. Fails closed: a literal that made no
 * A_Const, or whose location any other A_Const shares, is not proven.
 */
export function literalsIrrelevant(stmts: readonly Node[], key: LiteralKey): boolean {
  if (namesValueReadRelation(stmts)) return false;
  const allowed = new Set<Node>();
  for (const s of stmts) allowedLiterals(s, allowed);
  if (allowed.size === 0) return false;
  const ok = new Set<number>();
  const bad = new Set<number>();
  everyConst(stmts, (c) => {
    // A location of 0 is left out of the tree (zero values are omitted).
    const at = typeof c.location === 'number' ? c.location : 0;
    if (allowed.has(c)) ok.add(at);
    else bad.add(at);
  });
  return key.anchors.every((offsets) => offsets.some((o) => ok.has(o) && !bad.has(o)) && !offsets.some((o) => bad.has(o)));
}
