/**
 * Queries and data-modifying statements: SELECT (with set operations, VALUES, WITH, subqueries at
 * any depth, LATERAL), INSERT (with ON CONFLICT), UPDATE, DELETE and MERGE, walked once with a
 * scope per query level. Reads are recorded as `select` accesses on base relations; writes as
 * `insert` / `update` / `delete` accesses with the columns written. Each query level returns its
 * output columns with their provenance (the statement's `outputs`, a derived table's columns).
 */
import { constText, list, names, type Node, typeOf, unwrap } from './ast.ts';
import type { Collector, Rel } from './collector.ts';
import type { FlowSink } from './types.ts';
import { expandStar, resolveColumnRef, type Use } from './columns.ts';
import { expr, exprs, type QueryWalk, refFields, windowDef } from './expressions.ts';
import { plantedOperator } from './planted.ts';
import { choice, columnLabel, computed, NONE, type Out, outNames, packed, type Prov, renamed } from './provenance.ts';
import { type CteInfo, derivedColumns, expandItem, type FromItem, relationColumns, Scope } from './scope.ts';
import { type RelationLookup, unboundedMerge, unboundedSelection } from './unbounded.ts';

export class QueryWalker implements QueryWalk {
  constructor(readonly c: Collector) {}

  /**
   * Any query node (wrapped): SELECT/VALUES/set operation, or DML (its RETURNING are the outputs).
   * `rec` is the recursive CTE whose body this is (its self-references take the non-recursive
   * branch's columns).
   */
  query(node: Node | undefined, parent: Scope | undefined, rec?: CteInfo): Out[] | undefined {
    if (!node) return undefined;
    const type = typeOf(node);
    switch (type) {
      case 'SelectStmt':
        return this.select(node.SelectStmt, parent, rec);
      case 'InsertStmt':
        return this.insert(node.InsertStmt, parent);
      case 'UpdateStmt':
        return this.update(node.UpdateStmt, parent);
      case 'DeleteStmt':
        return this.delete(node.DeleteStmt, parent);
      case 'MergeStmt':
        return this.merge(node.MergeStmt, parent);
      default:
        this.c.fail(`query type ${type || 'unknown'} is not supported by the gateway`);
        return undefined;
    }
  }

  /** A scope holding the WITH clause's CTE names (and walking the CTE bodies). */
  private with(w: Node | undefined, parent: Scope | undefined): Scope | undefined {
    if (!w) return parent;
    const scope = new Scope(parent);
    scope.ctes = new Map();
    const ctes = list(w.ctes).map((x) => unwrap(x, 'CommonTableExpr') as Node);
    if (w.recursive) for (const cte of ctes) scope.ctes.set(cte.ctename, { cols: names(cte.aliascolnames), added: addedColumnNames(cte) });
    for (const cte of ctes) {
      const q = cte.ctequery as Node | undefined;
      const qt = q ? typeOf(q) : '';
      if (qt === 'InsertStmt' || qt === 'UpdateStmt' || qt === 'DeleteStmt' || qt === 'MergeStmt') this.c.special('cte_write');
      const outputs = this.query(q, scope, w.recursive ? scope.ctes.get(cte.ctename) : undefined);
      const alias = names(cte.aliascolnames);
      const m = derivedColumns(outNames(outputs), alias);
      const outs = renamed(outputs, alias);
      const added = this.searchCycle(cte, outs, scope);
      scope.ctes.set(cte.ctename, { cols: m ? [...m.keys(), ...added.map((o) => o.name)] : undefined, outs: outs ? [...outs, ...added] : undefined });
    }
    return scope;
  }

  /**
   * The columns a recursive CTE's SEARCH and CYCLE clauses add after its own, as PostgreSQL's
   * rewriter makes them (rewriteSearchAndCycle): each holds copies of the columns it is built
   * from, and each is a use of them.
   * - SEARCH … BY cols SET seq: `seq` is an array of ROW(cols) along the path (DEPTH FIRST) or
   *   ROW(depth, cols) (BREADTH FIRST), made to be ordered by: packed from the columns, and an
   *   ordering of them.
   * - CYCLE cols SET mark … USING path: each new row's ROW(cols) is compared with `=` to those on
   *   its path; `mark` is the answer and the recursion stops on it (so `count(*)` tells it too):
   *   computed from the columns, and an `=` filter of each. `path` is the array of ROW(cols):
   *   packed from them, masked and refused as any packed value (outputs, writes, COPY).
   * A column the gateway cannot find among the CTE's (a `*` of unknown width) makes the
   * statement unsupported.
   */
  private searchCycle(cte: Node, outs: readonly Out[] | undefined, scope: Scope): Out[] {
    const sc = cte.search_clause as Node | undefined;
    const cc = cte.cycle_clause as Node | undefined;
    if (!sc && !cc) return [];
    const col = (name: string, clause: string): Prov => {
      const o = outs?.some((x) => x.many) ? undefined : outs?.find((x) => x.name === name);
      if (o) return o.prov;
      this.c.fail(`the ${clause} clause of WITH query ${String(cte.ctename)} names column ${name}, whose values the gateway cannot follow`);
      return NONE;
    };
    const added: Out[] = [];
    if (sc) {
      const by = names(sc.search_col_list).map((n) => col(n, 'SEARCH'));
      for (const p of by) this.c.useSources(p, 'order', undefined);
      added.push({ name: String(sc.search_seq_column), prov: packed(by) });
    }
    if (cc) {
      const cols = names(cc.cycle_col_list).map((n) => col(n, 'CYCLE'));
      for (const p of cols) this.c.useSources(p, 'filter', '=');
      const mark = [expr(this, cc.cycle_mark_value, scope), expr(this, cc.cycle_mark_default, scope)];
      added.push({ name: String(cc.cycle_mark_column), prov: computed([...cols, ...mark]) });
      added.push({ name: String(cc.cycle_path_column), prov: packed(cols) });
    }
    return added;
  }

  select(s: Node, parent: Scope | undefined, rec?: CteInfo): Out[] | undefined {
    const outer = this.with(s.withClause, parent);
    if (s.op && s.op !== 'SETOP_NONE') {
      const left = this.select(unwrap(s.larg, 'SelectStmt') as Node, outer);
      if (rec && left) selfReference(rec, left);
      const right = this.select(unwrap(s.rarg, 'SelectStmt') as Node, outer);
      // UNION, INTERSECT and EXCEPT compare the rows of their operands (`… INTERSECT SELECT '9'`);
      // UNION ALL only appends them.
      if (!(s.op === 'SETOP_UNION' && s.all)) {
        for (const o of [...(left ?? []), ...(right ?? [])]) this.flow(o.prov, 'set_operation', String(s.op).replace('SETOP_', ''));
      }
      const outs = setOperation(left, right);
      // ORDER BY / LIMIT of a set operation can name only its output columns.
      const scope = new Scope(outer);
      const names0 = outNames(outs);
      scope.items.push({ cols: names0 ? new Map(names0.map((n) => [n, n])) : undefined });
      for (const sb of list(s.sortClause)) this.orderItem(sb.SortBy?.node, outs ?? [], scope);
      this.limits(s, scope);
      return outs;
    }
    const scope = new Scope(outer);
    if (s.valuesLists) {
      // A VALUES column is any of its rows' values.
      const cols: Prov[][] = [];
      for (const row of list(s.valuesLists)) {
        const items = row.List ? list(row.List.items) : [row];
        items.forEach((x, i) => (cols[i] ??= []).push(expr(this, x, scope)));
      }
      const outs = cols.map((ps, i) => ({ name: `column${i + 1}`, prov: choice(ps) }));
      for (const sb of list(s.sortClause)) this.orderItem(sb.SortBy?.node, outs, scope);
      this.limits(s, scope);
      return outs;
    }
    for (const f of list(s.fromClause)) this.fromItem(f, scope);

    const targets = list(s.targetList).map((t) => unwrap(t, 'ResTarget') as Node);
    const outputs = this.targetList(targets, scope, scope, scope);
    if (s.intoClause) {
      this.c.special('select_into');
      const rv = unwrap(s.intoClause.rel, 'RangeVar') as Node | undefined;
      this.writeFlows(outputs, `${rv?.schemaname ?? this.c.createSchema() ?? ''}.${rv?.relname ?? '?'}`, outputs.map((o) => o.name));
    }

    expr(this, s.whereClause, scope, { use: 'filter' });
    scope.outputs = new Map(targets.filter((t) => t.name).map((t) => [t.name as string, t.val]));
    for (const g of list(s.groupClause)) this.groupItem(g, outputs, scope);
    expr(this, s.havingClause, scope, { use: 'filter' });
    for (const wd of list(s.windowClause)) windowDef(this, unwrap(wd, 'WindowDef') as Node, scope);
    const distinct = list(s.distinctClause);
    for (const d of distinct) if (typeOf(d) !== '') this.groupItem(d, outputs, scope);
    // Plain DISTINCT compares every output (DISTINCT ON compares its expressions: a grouping).
    if (distinct.length > 0 && distinct.every((d) => typeOf(d) === '')) for (const o of outputs) this.flow(o.prov, 'distinct');
    for (const sb of list(s.sortClause)) this.orderItem(sb.SortBy?.node, outputs, scope);
    this.limits(s, scope);
    for (const lc of list(s.lockingClause)) this.locking(unwrap(lc, 'LockingClause') as Node, scope);
    return outputs;
  }

  /**
   * A target list, walked once: each entry's label and provenance, `*` / `t.*` / `(row).*`
   * expanded to one output per column. Expressions are walked in `walk`; a bare `*` lists the
   * items of `bare` (for RETURNING, the statement's level rather than its old/new names).
   */
  private targetList(targets: Node[], scope: Scope, walk: Scope, bare: Scope): Out[] {
    const out: Out[] = [];
    for (const t of targets) {
      const v = t.val as Node | undefined;
      const cr = v?.ColumnRef as Node | undefined;
      if (cr && list(cr.fields).at(-1)?.A_Star) {
        out.push(...expandStar(this.c, refFields(cr), walk, bare));
        continue;
      }
      const ind = v?.A_Indirection as Node | undefined;
      if (ind && list(ind.indirection).at(-1)?.A_Star) {
        // `(c).*`: the row's fields, one output each (a composite of unknown fields: one `many`).
        const p = expr(this, v, walk);
        if (p.fields) out.push(...p.fields);
        else out.push({ name: columnLabel(ind.arg), prov: p, many: true });
        continue;
      }
      out.push({ name: t.name ?? columnLabel(v), prov: expr(this, v, walk) });
    }
    return out;
  }

  /** Records the sources of a value flowing into a sink. */
  flow(p: Prov, sink: FlowSink, detail?: string): void {
    this.c.flowOf(p, sink, detail);
  }

  /** LIMIT / OFFSET decide how many rows come back: a value there is read by counting rows. */
  private limits(s: Node, scope: Scope): void {
    this.flow(expr(this, s.limitCount, scope), 'limit', 'LIMIT');
    this.flow(expr(this, s.limitOffset, scope), 'limit', 'OFFSET');
  }

  /**
   * Stored values written into `target` (`schema.table`): by column when `cols` pairs them by
   * position, else into any column.
   */
  writeFlows(values: readonly Out[], target: string, cols: readonly string[] | undefined): void {
    values.forEach((v, i) => {
      const col = cols && !v.many && i < cols.length ? cols[i] : '*';
      this.flow(v.prov, 'write', `${target}.${col}`);
    });
  }

  /** The output a bare name or a position names (ORDER BY, GROUP BY), if any. */
  private outputNamed(n: Node, outputs: readonly Out[]): Out | undefined {
    const pos = n.A_Const?.ival ? constText(n) : undefined;
    if (pos !== undefined && pos !== null) return outputs.some((o) => o.many) ? undefined : outputs[Number(pos) - 1];
    if (n.ColumnRef) {
      const f = refFields(n.ColumnRef);
      if (f.length === 1 && typeof f[0] === 'string') return outputs.find((o) => o.name === f[0]);
    }
    return undefined;
  }

  /**
   * GROUP BY (and DISTINCT ON): an input column first, then an output name or position, as
   * PostgreSQL binds it; the grouped value's sources are used for grouping either way.
   */
  private groupItem(g: Node, outputs: readonly Out[], scope: Scope): void {
    if (g.GroupingSet) {
      for (const x of list(g.GroupingSet.content)) this.groupItem(x, outputs, scope);
      return;
    }
    let p = expr(this, g, scope, { use: 'group' });
    if (p.src.length === 0) p = this.outputNamed(g, outputs)?.prov ?? p;
    this.c.useSources(p, 'group', undefined);
  }

  /** ORDER BY binds a bare name or a position to an output column first (its sources are ordered by). */
  private orderItem(n: Node | undefined, outputs: readonly Out[], scope: Scope): void {
    if (!n) return;
    const target = this.outputNamed(n, outputs);
    const p = target ? target.prov : expr(this, n, scope, { use: 'order' });
    this.c.useSources(p, 'order', undefined);
  }

  private locking(lc: Node, scope: Scope): void {
    this.c.special('lock');
    const rels = list(lc.lockedRels);
    const items: FromItem[] = rels.length === 0 ? scope.items : [];
    for (const r of rels) {
      const rv = unwrap(r, 'RangeVar') as Node;
      const it = scope.items.find((i) => i.refname === rv.relname);
      if (it) items.push(it);
    }
    const visit = (it: FromItem): void => {
      if (it.children) it.children.forEach(visit);
      else if (it.rel) this.c.access('update', it.rel);
    };
    items.forEach(visit);
  }

  /** A relation written in a statement: a CTE when unqualified and in scope, else the catalog's. */
  rangeVar(rv: Node, scope: Scope, asTarget: boolean): FromItem {
    const alias = rv.alias as Node | undefined;
    const aliasCols = names(alias?.colnames);
    if (!rv.schemaname && !asTarget) {
      const cte = scope.findCte(rv.relname);
      if (cte) {
        const outs = renamed(cte.outs, aliasCols);
        return { refname: alias?.aliasname ?? rv.relname, cols: derivedColumns(cte.cols, aliasCols), outs, fallback: manyProv(outs) };
      }
    }
    const rel = this.c.relation(rv.schemaname, rv.relname);
    const item: FromItem = { refname: alias?.aliasname ?? rv.relname, rel, cols: relationColumns(rel, aliasCols) };
    if (!alias) item.schema = rel.name.schema;
    return item;
  }

  /** Adds one FROM item (and walks what it contains) to `scope`. */
  fromItem(f: Node, scope: Scope): void {
    const type = typeOf(f);
    const n = f[type] as Node;
    switch (type) {
      case 'RangeVar': {
        const it = this.rangeVar(n, scope, false);
        if (it.rel) this.c.access('select', it.rel);
        scope.items.push(it);
        return;
      }
      case 'RangeSubselect': {
        // A non-LATERAL subquery cannot see its siblings: its parent is the enclosing level.
        const outputs = this.query(n.subquery, n.lateral ? scope : scope.parent);
        const aliasCols = names(n.alias?.colnames);
        const outs = renamed(outputs, aliasCols);
        scope.items.push({ refname: n.alias?.aliasname, cols: derivedColumns(outNames(outputs), aliasCols), outs, fallback: manyProv(outs) });
        return;
      }
      case 'RangeFunction': {
        let fname: string | undefined;
        const colNames: string[] = [];
        // Each function's columns: its column definitions, or (scalar) one named after it.
        const fouts: Out[] = [];
        const fprovs: Prov[] = [];
        for (const pair of list(n.functions)) {
          const items = pair.List ? list(pair.List.items) : [pair];
          const fn = items[0];
          const own = fn?.FuncCall ? names(fn.FuncCall.funcname).at(-1) : undefined;
          if (own) fname ??= own;
          const p = expr(this, fn, scope);
          fprovs.push(p);
          const defs = list(items[1]?.List?.items ?? []);
          for (const cd of defs) {
            const col = unwrap(cd, 'ColumnDef') as Node;
            if (col.colname) colNames.push(col.colname);
            if (col.colname) fouts.push({ name: col.colname, prov: p });
          }
          if (defs.length === 0 && list(n.coldeflist).length === 0) fouts.push({ name: own ?? '?column?', prov: p });
        }
        for (const cd of list(n.coldeflist)) {
          const col = unwrap(cd, 'ColumnDef') as Node;
          if (col.colname) colNames.push(col.colname);
          if (col.colname) fouts.push({ name: col.colname, prov: choice(fprovs) });
        }
        if (n.ordinality) fouts.push({ name: 'ordinality', prov: NONE });
        const aliasCols = names(n.alias?.colnames);
        // A single scalar function's one column takes the table alias as its name.
        if (aliasCols.length === 0 && n.alias?.aliasname && list(n.functions).length === 1 && colNames.length === 0 && fouts[0]) fouts[0].name = n.alias.aliasname;
        const cols = aliasCols.length > 0 || colNames.length > 0 ? derivedColumns(colNames.length > 0 ? colNames : undefined, aliasCols) : undefined;
        scope.items.push({ refname: n.alias?.aliasname ?? fname, cols, outs: renamed(fouts, aliasCols), fallback: choice(fprovs) });
        return;
      }
      case 'JoinExpr':
        this.join(n, scope);
        return;
      case 'RangeTableSample': {
        this.fromItem(n.relation, scope);
        // The sample's size and seed decide which rows come back.
        for (const p of exprs(this, n.args, scope)) this.flow(p, 'limit', 'TABLESAMPLE');
        this.flow(expr(this, n.repeatable, scope), 'limit', 'TABLESAMPLE');
        return;
      }
      case 'RangeTableFunc': {
        // XMLTABLE: every column is computed from the document.
        const doc = computed([expr(this, n.docexpr, scope), expr(this, n.rowexpr, scope), ...exprs(this, n.namespaces, scope)]);
        this.flow(doc, 'function', 'XMLTABLE');
        const cols: string[] = [];
        for (const c of list(n.columns)) {
          const col = unwrap(c, 'RangeTableFuncCol') as Node;
          if (col.colname) cols.push(col.colname);
          expr(this, col.colexpr, scope);
          expr(this, col.coldefexpr, scope);
        }
        this.tableFunction(n, cols, doc, scope, 'xmltable');
        return;
      }
      case 'JsonTable': {
        // JSON_TABLE: every column is computed from the context item.
        const doc = computed([expr(this, { JsonValueExpr: n.context_item }, scope), ...list(n.passing).map((a) => expr(this, a, scope))]);
        this.flow(doc, 'function', 'JSON_TABLE');
        const cols: string[] = [];
        this.jsonTableColumns(list(n.columns), scope, cols);
        this.tableFunction(n, cols, doc, scope, 'json_table');
        return;
      }
      default:
        this.c.fail(`FROM item type ${type || 'unknown'} is not supported by the gateway`);
    }
  }

  /**
   * An XMLTABLE / JSON_TABLE item: named columns, each computed from the document. Without an
   * alias PostgreSQL names it after the construct (`xmltable.*`).
   */
  private tableFunction(n: Node, cols: string[], doc: Prov, scope: Scope, unaliased: string): void {
    const aliasCols = names(n.alias?.colnames);
    const outs = renamed(cols.map((name) => ({ name, prov: doc })), aliasCols);
    scope.items.push({ refname: n.alias?.aliasname ?? unaliased, cols: derivedColumns(cols, aliasCols), outs, fallback: doc });
  }

  private jsonTableColumns(cols: Node[], scope: Scope, out: string[]): void {
    for (const c of cols) {
      const col = unwrap(c, 'JsonTableColumn') as Node;
      if (col.name) out.push(col.name);
      if (col.on_empty) expr(this, { JsonBehavior: col.on_empty }, scope);
      if (col.on_error) expr(this, { JsonBehavior: col.on_error }, scope);
      this.jsonTableColumns(list(col.columns), scope, out);
    }
  }

  private join(j: Node, scope: Scope): void {
    const start = scope.items.length;
    this.fromItem(j.larg, scope);
    const mid = scope.items.length;
    this.fromItem(j.rarg, scope);
    const left = scope.items.slice(start, mid);
    const right = scope.items.slice(mid);
    const joinUse: Use = { use: 'join' };
    let using = names(j.usingClause);
    if (j.isNatural) {
      // The common columns, in the left side's order (as `*` lists them).
      const rc = new Set(right.flatMap((i) => expandItem(i).map((o) => o.name)));
      using = [...new Set(left.flatMap((i) => expandItem(i).map((o) => o.name)))].filter((c) => rc.has(c));
    }
    for (const col of using) {
      for (const side of [left, right]) {
        const s = new Scope(undefined, true);
        s.items.push(...side);
        resolveColumnRef(this.c, [col], s, { use: 'join', operator: '=' });
      }
    }
    // USING / NATURAL compare with `=` looked up by name: a user operator may be the one.
    if (using.length > 0) plantedOperator(this.c, ['='], true);
    expr(this, j.quals, scope, joinUse);
    // An aliased join hides its members' names; a USING / NATURAL join lists its merged columns
    // once in `*`: either way its items are grouped.
    if (j.alias || using.length > 0) {
      const children = scope.items.splice(start);
      const item: FromItem = { refname: j.alias?.aliasname, children, left: mid - start };
      if (using.length > 0) item.using = using;
      // `a JOIN b USING (…) AS x`: x names the merged columns; a and b stay visible.
      if (!j.alias && typeof j.join_using_alias?.aliasname === 'string') item.usingAlias = j.join_using_alias.aliasname;
      scope.items.push(item);
    }
  }

  /** Written columns of a target list (`SET a = …`, `INSERT (a, b)`), with subscripts walked. */
  private targetColumns(targets: Node[], scope: Scope | undefined): string[] {
    const cols: string[] = [];
    for (const t of targets) {
      const r = unwrap(t, 'ResTarget') as Node;
      if (r.name && !cols.includes(r.name)) cols.push(r.name);
      if (scope) for (const ind of list(r.indirection)) expr(this, ind, scope);
    }
    return cols;
  }

  private written(op: 'insert' | 'update', rel: Rel, cols: string[] | undefined): void {
    if (cols === undefined) this.c.allColumns(op, rel);
    else for (const col of cols) this.c.column(op, rel, col);
    this.c.access(op, rel);
  }

  /**
   * A SET list (UPDATE, ON CONFLICT DO UPDATE, MERGE … UPDATE): walks each value once and notes
   * it as stored in its column, for RETURNING.
   */
  private setList(targets: Node[], target: FromItem, scope: Scope): void {
    // `SET (a, b) = (SELECT …)` / `= (x, y)` repeats the same source in each column's entry.
    const multi = new Map<string, Prov[]>();
    for (const t of targets) {
      const r = unwrap(t, 'ResTarget') as Node;
      const v = r.val as Node | undefined;
      const ma = v?.MultiAssignRef as Node | undefined;
      let p: Prov;
      if (ma?.source) {
        const src = ma.source as Node;
        const type = typeOf(src);
        const key = `${type}:${String(src[type]?.location)}`;
        let ps = multi.get(key);
        if (!ps) {
          if (src.SubLink?.subselect) ps = (this.query(src.SubLink.subselect, scope) ?? []).map((o) => o.prov);
          else if (src.RowExpr) ps = exprs(this, src.RowExpr.args, scope);
          else ps = [expr(this, src, scope)];
          multi.set(key, ps);
        }
        p = ps[Number(ma.colno ?? 1) - 1] ?? choice(ps);
      } else {
        p = expr(this, v, scope);
      }
      // `SET a[1] = x` / `SET a.f = x` stores x inside a.
      if (r.name) store(target, r.name, list(r.indirection).length > 0 ? computed([p]) : p);
      if (target.rel) this.flow(p, 'write', `${target.rel.name.schema}.${target.rel.name.name}.${r.name && list(r.indirection).length === 0 ? r.name : '*'}`);
    }
  }

  /** RETURNING: the target is visible by its name and as `old` / `new` (or their aliases). */
  private returning(rc: Node | undefined, target: FromItem, scope: Scope, bare: Scope = scope): Out[] | undefined {
    const r = unwrap(rc, 'ReturningClause');
    const list0 = r ? list(r.exprs) : [];
    if (list0.length === 0) return undefined;
    const rs = new Scope(scope);
    let oldName = 'old';
    let newName = 'new';
    for (const o of list(r?.options)) {
      const opt = unwrap(o, 'ReturningOption') as Node;
      if (opt.option === 'RETURNING_OPTION_OLD') oldName = opt.value;
      else newName = opt.value;
    }
    for (const nm of [oldName, newName]) if (!scope.items.some((i) => i.refname === nm)) rs.items.push({ ...target, refname: nm, schema: undefined });
    const targets = list0.map((t) => unwrap(t, 'ResTarget') as Node);
    // Unqualified names bind to the statement's own level (the target and FROM/USING items);
    // `*` lists that level's items (the target, then FROM / USING), not old / new.
    return this.targetList(targets, scope, rs, bare);
  }

  insert(s: Node, parent: Scope | undefined): Out[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    const rel = target.rel as Rel;
    const cols = list(s.cols).length > 0 ? this.targetColumns(list(s.cols), scope) : undefined;
    this.written('insert', rel, cols);
    // The source query does not see the target table. Its values become the target's columns
    // (by position), which RETURNING then returns.
    const values = s.selectStmt ? this.query(s.selectStmt, outer) : undefined;
    if (values) storeRow(target, cols ?? rel.catalog?.columns.map((x) => x.name), values);
    if (values) this.writeFlows(values, `${rel.name.schema}.${rel.name.name}`, cols ?? rel.catalog?.columns.map((x) => x.name));
    const oc = unwrap(s.onConflictClause, 'OnConflictClause');
    if (oc) {
      scope.items.push(target);
      const infer = unwrap(oc.infer, 'InferClause');
      for (const ie of list(infer?.indexElems)) {
        const el = unwrap(ie, 'IndexElem') as Node;
        if (el.name) resolveColumnRef(this.c, [el.name], scope, undefined);
        expr(this, el.expr, scope);
      }
      expr(this, infer?.whereClause, scope, { use: 'filter' });
      if (oc.action === 'ONCONFLICT_UPDATE') {
        // EXCLUDED is the proposed row: its values are the client's own, not stored data.
        const us = new Scope(scope);
        us.items.push({ refname: 'excluded', cols: target.cols });
        const targets = list(oc.targetList);
        this.written('update', rel, this.targetColumns(targets, us));
        this.setList(targets, target, us);
        expr(this, oc.whereClause, us, { use: 'filter' });
      }
    }
    if (!oc) scope.items.push(target);
    return this.returning(s.returningClause, target, scope);
  }

  update(s: Node, parent: Scope | undefined): Out[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    scope.items.push(target);
    for (const f of list(s.fromClause)) this.fromItem(f, scope);
    const targets = list(s.targetList);
    this.written('update', target.rel as Rel, this.targetColumns(targets, scope));
    this.setList(targets, target, scope);
    if (s.whereClause) expr(this, s.whereClause, scope, { use: 'filter' });
    // Judged by effect: a WHERE that holds for every row, or does not read the row, is none.
    if (unboundedSelection({ relation: s.relation, target: target.rel?.catalog, from: list(s.fromClause), where: s.whereClause, lookup: this.lookup(scope) })) this.c.special('update_without_where');
    return this.returning(s.returningClause, target, scope);
  }

  delete(s: Node, parent: Scope | undefined): Out[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    scope.items.push(target);
    this.c.access('delete', target.rel as Rel);
    for (const f of list(s.usingClause)) this.fromItem(f, scope);
    if (s.whereClause) expr(this, s.whereClause, scope, { use: 'filter' });
    if (unboundedSelection({ relation: s.relation, target: target.rel?.catalog, from: list(s.usingClause), where: s.whereClause, lookup: this.lookup(scope) })) this.c.special('delete_without_where');
    return this.returning(s.returningClause, target, scope);
  }

  /** Catalog relations by RangeVar, as this level sees them (a CTE's name is not a relation). */
  private lookup(scope: Scope): RelationLookup {
    return (rv) => (!rv.schemaname && scope.findCte(rv.relname) ? undefined : this.c.relation(rv.schemaname, rv.relname).catalog);
  }

  merge(s: Node, parent: Scope | undefined): Out[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    const rel = target.rel as Rel;
    scope.items.push(target);
    this.fromItem(s.sourceRelation, scope);
    expr(this, s.joinCondition, scope, { use: 'join' });
    const lookup = this.lookup(scope);
    for (const w of list(s.mergeWhenClauses)) {
      const m = unwrap(w, 'MergeWhenClause') as Node;
      expr(this, m.condition, scope, { use: 'filter' });
      // MERGE by its actions: a DELETE or UPDATE of matched rows whose join and condition hold
      // for every target row is one without WHERE; so is one of the rows no source row matches
      // (WHEN NOT MATCHED BY SOURCE), unless its own condition bounds it.
      if (m.commandType === 'CMD_DELETE' || m.commandType === 'CMD_UPDATE') {
        const bySource = m.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE';
        const unbounded = bySource
          ? unboundedSelection({ relation: s.relation, target: rel.catalog, from: [], where: m.condition, lookup })
          : unboundedMerge(s.relation, rel.catalog, s.sourceRelation, s.joinCondition, m.condition, lookup);
        if (unbounded) this.c.special(m.commandType === 'CMD_DELETE' ? 'delete_without_where' : 'update_without_where');
      }
      switch (m.commandType as string) {
        case 'CMD_UPDATE': {
          const targets = list(m.targetList);
          this.written('update', rel, this.targetColumns(targets, scope));
          this.setList(targets, target, scope);
          break;
        }
        case 'CMD_INSERT': {
          const targets = list(m.targetList);
          const cols = targets.length > 0 ? this.targetColumns(targets, scope) : undefined;
          this.written('insert', rel, cols);
          const values = exprs(this, m.values, scope).map((prov, i) => ({ name: `column${i + 1}`, prov }));
          storeRow(target, cols ?? rel.catalog?.columns.map((x) => x.name), values);
          this.writeFlows(values, `${rel.name.schema}.${rel.name.name}`, cols ?? rel.catalog?.columns.map((x) => x.name));
          break;
        }
        case 'CMD_DELETE':
          this.c.access('delete', rel);
          break;
        case 'CMD_NOTHING':
          break;
        default:
          this.c.fail(`MERGE action ${String(m.commandType)} is not supported by the gateway`);
      }
    }
    // MERGE … RETURNING * lists the source's columns, then the target's.
    const bare = new Scope(undefined);
    bare.items.push(...scope.items.slice(1), target);
    return this.returning(s.returningClause, target, scope, bare);
  }
}

/** The provenance of a derived item's columns that its known outputs do not name (a `*` of unknown width). */
function manyProv(outs: readonly Out[] | undefined): Prov | undefined {
  const many = outs?.filter((o) => o.many);
  return many && many.length > 0 ? choice(many.map((o) => o.prov)) : undefined;
}

/**
 * A set operation's outputs: named by the left branch, each column any of the branches' values.
 * When a branch has a `*` of unknown width the columns cannot be paired: one `many` output then
 * stands for all of them.
 */
function setOperation(left: Out[] | undefined, right: Out[] | undefined): Out[] | undefined {
  if (!left || !right) return left ?? right;
  if (left.some((o) => o.many) || right.some((o) => o.many) || left.length !== right.length) {
    return [{ name: left[0]?.name ?? '?column?', prov: choice([...left, ...right].map((o) => o.prov)), many: true }];
  }
  return left.map((o, i) => ({ name: o.name, prov: choice([o.prov, right[i].prov]) }));
}

/**
 * A recursive CTE's self-references, once its non-recursive branch is known: each column may by
 * then hold any of that branch's values (rows are fed back through the recursive branch), so
 * each takes all of them; names come from the branch unless the CTE lists its own.
 */
function selfReference(rec: CteInfo, left: Out[]): void {
  const added = rec.added ?? [];
  const alias = rec.cols ?? [];
  const all = choice(left.map((o) => o.prov));
  const outs = renamed(left, alias)?.map((o) => ({ name: o.name, prov: all, many: o.many })) ?? [];
  // The SEARCH / CYCLE columns of the rows fed back hold copies of their values.
  const copies = packed([all]);
  rec.outs = [...outs, ...added.map((name) => ({ name, prov: copies }))];
  if (alias.length === 0) {
    const m = derivedColumns(outNames(outs), []);
    rec.cols = m ? [...m.keys(), ...added] : undefined;
  } else rec.cols = [...alias, ...added];
}

/** The names of the columns a CTE's SEARCH and CYCLE clauses add, in PostgreSQL's order. */
function addedColumnNames(cte: Node): string[] {
  const out: string[] = [];
  if (cte.search_clause) out.push(String(cte.search_clause.search_seq_column));
  if (cte.cycle_clause) out.push(String(cte.cycle_clause.cycle_mark_column), String(cte.cycle_clause.cycle_path_column));
  return out;
}

/** Notes a value written into a column of the statement's target (RETURNING returns it). */
function store(target: FromItem, col: string, p: Prov): void {
  if (p.d === 'none') return;
  target.stored ??= new Map();
  const prev = target.stored.get(col);
  target.stored.set(col, prev ? choice([prev, p]) : p);
}

/**
 * An INSERT's (or MERGE INSERT's) row of values into the target's columns by position; when the
 * two cannot be paired (a `*` of unknown width, unknown columns) every value may be in any column.
 */
function storeRow(target: FromItem, cols: string[] | undefined, values: Out[]): void {
  if (!cols || values.some((v) => v.many)) {
    store(target, '*', choice(values.map((v) => v.prov)));
    return;
  }
  values.forEach((v, i) => {
    if (i < cols.length) store(target, cols[i], v.prov);
  });
}
