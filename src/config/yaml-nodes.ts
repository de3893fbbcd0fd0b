/**
 * Walking a parsed YAML document by key path, so every problem can name the line it is about.
 * Paths are zod-style arrays (`['identity', 'issuers', 0, 'audience']`) and print as
 * `identity.issuers[0].audience`.
 */
import { type Document, type LineCounter, type Node as YamlNode, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';

export type KeyPath = readonly PropertyKey[];

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

export interface Located {
  /** 1-based line of the key naming the value (or the list item); of its nearest present ancestor when absent. */
  line: number;
  /** Whether the whole path exists in the document. */
  found: boolean;
}

/** Find the line of `path` in `doc`; a missing tail resolves to the deepest ancestor present. */
export function locate(doc: Document, lines: LineCounter, path: KeyPath): Located {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const seg of path) {
    node = deref(doc, node);
    let next: unknown;
    let at: number | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair) {
        next = pair.value;
        at = rangeStart(pair.key) ?? rangeStart(pair.value);
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
      at = rangeStart(next);
    }
    if (next === undefined && at === undefined) return { line: lines.linePos(offset).line, found: false };
    node = next;
    if (at !== undefined) offset = at;
  }
  return { line: lines.linePos(offset).line, found: true };
}

/** Visit every string scalar that is a value (never a key), with its path. */
export function forEachStringValue(doc: Document, visit: (node: YamlNode & { value: unknown }, path: KeyPath) => void): void {
  const walk = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : '?';
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      visit(node, path);
    }
    // Aliases are resolved by toJS() to the anchored node, which is visited where it is defined.
  };
  walk(doc.contents, []);
}

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? range[0] : undefined;
}
