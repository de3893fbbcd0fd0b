/**
 * The architecture's import rules, checked on the source itself (docs/architecture.md §1):
 *
 * - The pure parts (`protocol`, `sql`, `policy`, `masking`) are functions over data. Nothing they
 *   load at run time, directly or through other modules of the gateway, may open a socket, a
 *   file, a thread or a process, log, read a store, or read the clock. Type-only imports are
 *   erased before the code runs, so they do not count here.
 * - The folder import graph (src/<folder> → src/<folder>, type-only imports included, each
 *   top-level file of src/ a node of its own) has no cycle. A failure prints the cycle with the
 *   files that make each of its edges.
 *
 * Imports are read from the text (every `import … from`, `export … from`, side-effect `import`,
 * dynamic `import()` and `new URL(…, import.meta.url)` of a worker), so the test needs no
 * compiler; its first case checks that the reader finds edges known to exist, so a reader that
 * found nothing could not pass the others.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = resolve(import.meta.dirname, '..', 'src');
const PURE = ['protocol', 'sql', 'policy', 'masking'];

/**
 * Modules from outside src/ a pure part may load, by folder. Everything else (node:fs, node:net,
 * node:tls, node:http(s), node:child_process, node:worker_threads, better-sqlite3, pino, pg, …) is
 * I/O or a logger and is refused.
 */
const PURE_EXTERNAL: Record<string, readonly string[]> = {
  protocol: [],
  // The PostgreSQL parser (WASM, loaded once) and the config schema library.
  sql: ['libpg-query'],
  policy: ['zod'],
  // node:crypto for the keyed hash and fake maskers (HMAC over the value with the configured key).
  masking: ['zod', 'node:crypto'],
};

/**
 * One file of a pure part allowed one I/O module, with the reason.
 *
 * `sql/parser.ts` runs the same parser (libpg-query's `parseSync`) on a worker thread for texts
 * of 16 KiB or more (`parseAhead`, `parse-worker.mjs`), so that a large statement does not stall
 * the event loop every session shares. The thread does no I/O of its own: it receives a text and
 * answers with the parse tree, which `parseStatements` then reads exactly as it reads a tree
 * parsed on the calling thread, so the analysis stays a function of the text. Moving the thread
 * behind an engine port would leave the same computation in two places for no gain in purity.
 */
const PURE_FILE_EXCEPTIONS: Record<string, readonly string[]> = {
  'sql/parser.ts': ['node:worker_threads'],
  'sql/parse-worker.mjs': ['node:worker_threads'],
};

/** Modules of the gateway itself that are I/O whatever imports them. */
const IO_FILES = ['log.ts', 'private-files.ts', 'main.ts'];
const IO_FOLDERS = ['store', 'upstream', 'audit', 'proxy', 'http', 'console', 'cli', 'demo', 'mcp', 'review', 'engine', 'config', 'identity'];

/** Reading the clock or timers in a pure part makes its result depend on when it ran. */
const CLOCK = /\b(Date\.now\(|new Date\(|performance\.now\(|process\.hrtime|setTimeout\(|setInterval\(|setImmediate\(|process\.env\b)/;

/** Folder edges allowed to close a cycle, each with the reason (none today). */
const ALLOWED_CYCLE_EDGES: [string, string][] = [];

interface Import {
  from: string;
  spec: string;
  /** Resolved path under src/ for a relative import; undefined for a package or node: module. */
  target?: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Strip comments, so an import written in a comment or a doc example is not read. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function importsOf(file: string): Import[] {
  const text = withoutComments(readFileSync(file, 'utf8'));
  const from = relative(SRC, file);
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const target = spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)) : undefined;
    out.push({ from, spec, target, typeOnly });
  };
  // `import x from`, `import { a, type B } from`, `import type … from`, `export … from`, across lines.
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([\w$*\s{},]*?)\s*from\s*['"]([^'"]+)['"]/gm)) {
    const clause = m[3];
    // esbuild (tsx) drops an import whose every named binding is a type.
    const named = /^\{([\s\S]*)\}$/.exec(clause.trim());
    const allTypes = named !== null && named[1].split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    add(m[4], m[2] !== undefined || allTypes);
  }
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) add(m[1], false);
  // `import('x')` at run time; `import('x').Name` in a type position is erased.
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)(\.(?!then\b|catch\b|finally\b)[A-Za-z_$])?/g)) add(m[1], m[2] !== undefined);
  for (const m of text.matchAll(/new URL\(\s*['"](\.[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)) add(m[1], false);
  return out;
}

/** The graph node of a file under src/: its folder, or the file itself at the top level. */
function nodeOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 1 ? parts[0] : path;
}

const files = sourceFiles(SRC);
const imports = new Map(files.map((f) => [relative(SRC, f), importsOf(f)]));

/** Folder edges with the imports that make them. */
function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const [file, list] of imports) {
    const a = nodeOf(file);
    if (!graph.has(a)) graph.set(a, new Map());
    for (const i of list) {
      if (i.target === undefined) continue;
      const b = nodeOf(i.target);
      if (a === b) continue;
      const edges = graph.get(a)!;
      edges.set(b, [...(edges.get(b) ?? []), `${file} → ${i.target}${i.typeOnly ? ' (type)' : ''}`]);
    }
  }
  return graph;
}

/** The strongly connected components of more than one node (Tarjan). */
function cyclicComponents(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One cycle through `start` inside its component (breadth-first: the shortest). */
function cycleThrough(graph: Map<string, Set<string>>, start: string, within: Set<string>): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!within.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

describe('architecture', () => {
  it('the import reader finds the edges known to exist', () => {
    const g = folderGraph();
    assert.ok(g.get('engine')?.has('protocol'), 'engine imports protocol');
    assert.ok(g.get('masking')?.has('policy'), 'masking imports policy/pattern.ts');
    assert.ok(g.get('config')?.has('policy'), 'config composes policy/schema.ts');
    assert.ok(g.get('main.ts')?.has('proxy'), 'main.ts imports proxy');
    const parser = imports.get('sql/parser.ts')!;
    assert.ok(parser.some((i) => i.spec === 'node:worker_threads' && !i.typeOnly), 'sql/parser.ts loads node:worker_threads');
    assert.ok(parser.some((i) => i.target === 'sql/parse-worker.mjs'), 'the worker file is an import');
    assert.ok(parser.some((i) => i.target === 'sql/types.ts' && !i.typeOnly), 'a value import');
    assert.ok(parser.some((i) => i.target === 'sql/ast.ts' && i.typeOnly), 'an `import type`');
    const gate = imports.get('engine/gate.ts')!;
    assert.ok(gate.some((i) => i.target === 'identity/types.ts' && i.typeOnly), 'a type-only import');
    assert.ok(imports.get('sql/types.ts')!.some((i) => i.target === 'catalog/types.ts' && i.typeOnly), "an `import('…').Type` is a type");
    assert.ok(imports.get('cli/start.ts')!.some((i) => i.target === 'main.ts' && !i.typeOnly), 'an `await import()` is loaded');
  });

  it('pure parts load no I/O, logger, store or clock, directly or through other modules', () => {
    const problems: string[] = [];
    for (const folder of PURE) {
      for (const start of [...imports.keys()].filter((f) => nodeOf(f) === folder)) {
        // Everything `start` loads at run time, with the chain that loads it.
        const seen = new Map<string, string[]>([[start, [start]]]);
        const queue = [start];
        while (queue.length > 0) {
          const file = queue.shift()!;
          const chain = seen.get(file)!;
          for (const i of imports.get(file) ?? []) {
            if (i.typeOnly) continue;
            const via = chain.join(' → ');
            if (i.target === undefined) {
              const owner = nodeOf(file);
              const allowed = PURE.includes(owner) ? [...PURE_EXTERNAL[owner], ...(PURE_FILE_EXCEPTIONS[file] ?? [])] : [];
              if (!allowed.includes(i.spec)) problems.push(`${via} loads ${i.spec}`);
              continue;
            }
            const t = i.target;
            if (IO_FILES.includes(t) || IO_FOLDERS.includes(nodeOf(t))) {
              problems.push(`${via} loads ${t}`);
              continue;
            }
            if (!seen.has(t)) {
              seen.set(t, [...chain, t]);
              queue.push(t);
            }
          }
        }
      }
      // Test support (`test-*.ts`) may read the clock: it builds identities that expire from now.
      for (const file of [...imports.keys()].filter((f) => nodeOf(f) === folder && !/(^|\/)test-[^/]*$/.test(f))) {
        const text = withoutComments(readFileSync(join(SRC, file), 'utf8'));
        const m = CLOCK.exec(text);
        if (m) problems.push(`${file} reads the clock or the environment (${m[1]})`);
      }
    }
    assert.deepEqual([...new Set(problems)], [], `pure parts must stay pure:\n  ${[...new Set(problems)].join('\n  ')}`);
  });

  it('the folder import graph has no cycle', () => {
    const edges = folderGraph();
    for (const [a, b] of ALLOWED_CYCLE_EDGES) {
      assert.ok(edges.get(a)?.has(b), `${a} → ${b} is allowed to close a cycle but no longer exists: delete it from ALLOWED_CYCLE_EDGES`);
    }
    const graph = new Map<string, Set<string>>();
    for (const [a, to] of edges) {
      graph.set(a, new Set([...to.keys()].filter((b) => !ALLOWED_CYCLE_EDGES.some(([x, y]) => x === a && y === b))));
    }
    const report: string[] = [];
    for (const comp of cyclicComponents(graph)) {
      const cycle = cycleThrough(graph, comp[0], new Set(comp));
      report.push(`cycle: ${cycle.join(' → ')}  (folders in the tangle: ${comp.join(', ')})`);
      for (let i = 0; i + 1 < cycle.length; i++) {
        report.push(`  ${cycle[i]} → ${cycle[i + 1]}: ${edges.get(cycle[i])!.get(cycle[i + 1])!.join('; ')}`);
      }
    }
    assert.deepEqual(report, [], `the folder import graph has cycles:\n${report.join('\n')}`);
  });
});
