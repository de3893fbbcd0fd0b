/**
 * Queries and data-modifying statements: SELECT (with set operations, VALUES, WITH, subqueries at
 * any depth, LATERAL), INSERT (with ON CONFLICT), UPDATE, DELETE and MERGE, walked once with a
 * scope per query level. Reads are recorded as `select` accesses on base relations; writes as
 * `insert` / `update` / `delete` accesses with the columns written.
 */
import { constText, list, names, type Node, typeOf, unwrap } from './ast.ts';
import type { Collector, Rel } from './collector.ts';
import { resolveColumnRef, STAR, type Use } from './columns.ts';
import { expr, exprs, type QueryWalk, refFields, windowDef } from './expressions.ts';
import { derivedColumns, type FromItem, relationColumns, Scope } from './scope.ts';

export class QueryWalker implements QueryWalk {
  constructor(readonly c: Collector) {}

  /** Any query node (wrapped): SELECT/VALUES/set operation, or DML (its RETURNING are the outputs). */
  query(node: Node | undefined, parent: Scope | undefined): string[] | undefined {
    if (!node) return undefined;
    const type = typeOf(node);
    switch (type) {
      case 'SelectStmt':
        return this.select(node.SelectStmt, parent);
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
    if (w.recursive) for (const cte of ctes) scope.ctes.set(cte.ctename, { cols: names(cte.aliascolnames) });
    for (const cte of ctes) {
      const q = cte.ctequery as Node | undefined;
      const qt = q ? typeOf(q) : '';
      if (qt === 'InsertStmt' || qt === 'UpdateStmt' || qt === 'DeleteStmt' || qt === 'MergeStmt') this.c.special('cte_write');
      const outputs = this.query(q, scope);
      const alias = names(cte.aliascolnames);
      const m = derivedColumns(outputs, alias);
      scope.ctes.set(cte.ctename, { cols: m ? [...m.keys()] : undefined });
    }
    return scope;
  }

  select(s: Node, parent: Scope | undefined): string[] | undefined {
    const outer = this.with(s.withClause, parent);
    if (s.op && s.op !== 'SETOP_NONE') {
      const left = this.select(unwrap(s.larg, 'SelectStmt') as Node, outer);
      this.select(unwrap(s.rarg, 'SelectStmt') as Node, outer);
      // ORDER BY / LIMIT of a set operation can name only its output columns.
      const scope = new Scope(outer);
      scope.items.push({ cols: left ? new Map(left.map((n) => [n, n])) : undefined });
      for (const sb of list(s.sortClause)) expr(this, sb.SortBy?.node, scope, undefined);
      expr(this, s.limitCount, scope);
      expr(this, s.limitOffset, scope);
      return left;
    }
    const scope = new Scope(outer);
    if (s.valuesLists) {
      let width = 0;
      for (const row of list(s.valuesLists)) {
        const items = row.List ? list(row.List.items) : [row];
        width = Math.max(width, items.length);
        for (const x of items) expr(this, x, scope);
      }
      for (const sb of list(s.sortClause)) expr(this, sb.SortBy?.node, scope);
      expr(this, s.limitCount, scope);
      expr(this, s.limitOffset, scope);
      return Array.from({ length: width }, (_, i) => `column${i + 1}`);
    }
    for (const f of list(s.fromClause)) this.fromItem(f, scope);

    const targets = list(s.targetList).map((t) => unwrap(t, 'ResTarget') as Node);
    const outputs: string[] | undefined = this.outputNames(targets, scope);
    for (const t of targets) expr(this, t.val, scope);
    if (s.intoClause) this.c.special('select_into');

    expr(this, s.whereClause, scope, { use: 'filter' });
    scope.outputs = new Map(targets.filter((t) => t.name).map((t) => [t.name as string, t.val]));
    for (const g of list(s.groupClause)) this.groupItem(g, scope);
    expr(this, s.havingClause, scope, { use: 'filter' });
    for (const wd of list(s.windowClause)) windowDef(this, unwrap(wd, 'WindowDef') as Node, scope);
    for (const d of list(s.distinctClause)) if (typeOf(d) !== '') expr(this, d, scope, { use: 'group' });
    for (const sb of list(s.sortClause)) this.orderItem(sb.SortBy?.node, targets, scope);
    expr(this, s.limitCount, scope);
    expr(this, s.limitOffset, scope);
    for (const lc of list(s.lockingClause)) this.locking(unwrap(lc, 'LockingClause') as Node, scope);
    return outputs;
  }

  /** Output column names; undefined when a `*` cannot be expanded. */
  private outputNames(targets: Node[], scope: Scope): string[] | undefined {
    const out: string[] = [];
    for (const t of targets) {
      if (t.name) {
        out.push(t.name);
        continue;
      }
      const v = t.val as Node | undefined;
      if (v?.ColumnRef) {
        const f = refFields(v.ColumnRef);
        const last = f[f.length - 1];
        if (last === STAR) {
          const items = f.length === 1 ? scope.items : scope.items.filter((i) => i.refname === f[f.length - 2]);
          for (const it of items) {
            if (!it.cols) return undefined;
            out.push(...it.cols.keys());
          }
          continue;
        }
        out.push(last);
        continue;
      }
      if (v?.FuncCall) out.push(names(v.FuncCall.funcname).at(-1) ?? '?column?');
      else out.push('?column?');
    }
    return out;
  }

  private groupItem(g: Node, scope: Scope): void {
    if (g.GroupingSet) {
      for (const x of list(g.GroupingSet.content)) this.groupItem(x, scope);
      return;
    }
    expr(this, g, scope, { use: 'group' });
  }

  /** ORDER BY binds a bare name or a position to an output column first. */
  private orderItem(n: Node | undefined, targets: Node[], scope: Scope): void {
    if (!n) return;
    let target: Node | undefined;
    const pos = n.A_Const ? constText(n) : undefined;
    if (pos !== undefined && pos !== null && n.A_Const.ival) target = targets[Number(pos) - 1];
    else if (n.ColumnRef) {
      const f = refFields(n.ColumnRef);
      if (f.length === 1 && typeof f[0] === 'string') target = targets.find((t) => t.name === f[0]);
    }
    if (target) {
      // Re-walk the output expression for its order use (its reads are recorded already).
      if (target.val?.ColumnRef) expr(this, target.val, scope, { use: 'order' });
      return;
    }
    expr(this, n, scope, { use: 'order' });
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
      if (cte) return { refname: alias?.aliasname ?? rv.relname, cols: derivedColumns(cte.cols, aliasCols) };
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
        scope.items.push({ refname: n.alias?.aliasname, cols: derivedColumns(outputs, names(n.alias?.colnames)) });
        return;
      }
      case 'RangeFunction': {
        let fname: string | undefined;
        const colNames: string[] = [];
        for (const pair of list(n.functions)) {
          const items = pair.List ? list(pair.List.items) : [pair];
          const fn = items[0];
          if (fn?.FuncCall) fname ??= names(fn.FuncCall.funcname).at(-1);
          expr(this, fn, scope);
          for (const cd of list(items[1]?.List?.items ?? [])) {
            const col = unwrap(cd, 'ColumnDef') as Node;
            if (col.colname) colNames.push(col.colname);
          }
        }
        for (const cd of list(n.coldeflist)) {
          const col = unwrap(cd, 'ColumnDef') as Node;
          if (col.colname) colNames.push(col.colname);
        }
        const aliasCols = names(n.alias?.colnames);
        const cols = aliasCols.length > 0 || colNames.length > 0 ? derivedColumns(colNames.length > 0 ? colNames : undefined, aliasCols) : undefined;
        scope.items.push({ refname: n.alias?.aliasname ?? fname, cols });
        return;
      }
      case 'JoinExpr':
        this.join(n, scope);
        return;
      case 'RangeTableSample': {
        this.fromItem(n.relation, scope);
        exprs(this, n.args, scope);
        expr(this, n.repeatable, scope);
        return;
      }
      case 'RangeTableFunc': {
        expr(this, n.docexpr, scope);
        expr(this, n.rowexpr, scope);
        exprs(this, n.namespaces, scope);
        const cols: string[] = [];
        for (const c of list(n.columns)) {
          const col = unwrap(c, 'RangeTableFuncCol') as Node;
          if (col.colname) cols.push(col.colname);
          expr(this, col.colexpr, scope);
          expr(this, col.coldefexpr, scope);
        }
        scope.items.push({ refname: n.alias?.aliasname, cols: derivedColumns(cols, names(n.alias?.colnames)) });
        return;
      }
      case 'JsonTable': {
        expr(this, { JsonValueExpr: n.context_item }, scope);
        for (const a of list(n.passing)) expr(this, a, scope);
        const cols: string[] = [];
        this.jsonTableColumns(list(n.columns), scope, cols);
        scope.items.push({ refname: n.alias?.aliasname, cols: derivedColumns(cols, names(n.alias?.colnames)) });
        return;
      }
      default:
        this.c.fail(`FROM item type ${type || 'unknown'} is not supported by the gateway`);
    }
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
      const lc = new Set(left.flatMap((i) => [...(i.cols?.keys() ?? [])]));
      using = [...new Set(right.flatMap((i) => [...(i.cols?.keys() ?? [])]))].filter((c) => lc.has(c));
    }
    for (const col of using) {
      for (const side of [left, right]) {
        const s = new Scope(undefined, true);
        s.items.push(...side);
        resolveColumnRef(this.c, [col], s, { use: 'join', operator: '=' });
      }
    }
    expr(this, j.quals, scope, joinUse);
    if (j.alias) {
      const children = scope.items.splice(start);
      scope.items.push({ refname: j.alias.aliasname, children });
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

  /** RETURNING: the target is visible by its name and as `old` / `new` (or their aliases). */
  private returning(rc: Node | undefined, target: FromItem, scope: Scope): string[] | undefined {
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
    // Unqualified names bind to the statement's own level (the target and FROM/USING items).
    const outputs = this.outputNames(targets, scope);
    for (const t of targets) expr(this, t.val, rs);
    return outputs;
  }

  insert(s: Node, parent: Scope | undefined): string[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    const rel = target.rel as Rel;
    const cols = list(s.cols).length > 0 ? this.targetColumns(list(s.cols), scope) : undefined;
    this.written('insert', rel, cols);
    // The source query does not see the target table.
    if (s.selectStmt) this.query(s.selectStmt, outer);
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
        for (const t of targets) expr(this, (unwrap(t, 'ResTarget') as Node).val, us);
        expr(this, oc.whereClause, us, { use: 'filter' });
      }
    }
    if (!oc) scope.items.push(target);
    return this.returning(s.returningClause, target, scope);
  }

  update(s: Node, parent: Scope | undefined): string[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    scope.items.push(target);
    for (const f of list(s.fromClause)) this.fromItem(f, scope);
    const targets = list(s.targetList);
    this.written('update', target.rel as Rel, this.targetColumns(targets, scope));
    const seen = new Set<Node>();
    for (const t of targets) {
      const v = (unwrap(t, 'ResTarget') as Node).val as Node | undefined;
      // `SET (a, b) = (SELECT …)` repeats the same source per column: walk it once.
      const src = v?.MultiAssignRef?.source;
      if (src && seen.has(src)) continue;
      if (src) seen.add(src);
      expr(this, v, scope);
    }
    if (s.whereClause) expr(this, s.whereClause, scope, { use: 'filter' });
    else this.c.special('update_without_where');
    return this.returning(s.returningClause, target, scope);
  }

  delete(s: Node, parent: Scope | undefined): string[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    scope.items.push(target);
    this.c.access('delete', target.rel as Rel);
    for (const f of list(s.usingClause)) this.fromItem(f, scope);
    if (s.whereClause) expr(this, s.whereClause, scope, { use: 'filter' });
    else this.c.special('delete_without_where');
    return this.returning(s.returningClause, target, scope);
  }

  merge(s: Node, parent: Scope | undefined): string[] | undefined {
    const outer = this.with(s.withClause, parent);
    const scope = new Scope(outer);
    const target = this.rangeVar(s.relation, scope, true);
    const rel = target.rel as Rel;
    scope.items.push(target);
    this.fromItem(s.sourceRelation, scope);
    expr(this, s.joinCondition, scope, { use: 'join' });
    for (const w of list(s.mergeWhenClauses)) {
      const m = unwrap(w, 'MergeWhenClause') as Node;
      expr(this, m.condition, scope, { use: 'filter' });
      switch (m.commandType as string) {
        case 'CMD_UPDATE': {
          const targets = list(m.targetList);
          this.written('update', rel, this.targetColumns(targets, scope));
          for (const t of targets) expr(this, (unwrap(t, 'ResTarget') as Node).val, scope);
          break;
        }
        case 'CMD_INSERT': {
          const targets = list(m.targetList);
          this.written('insert', rel, targets.length > 0 ? this.targetColumns(targets, scope) : undefined);
          exprs(this, m.values, scope);
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
    return this.returning(s.returningClause, target, scope);
  }
}

