/**
 * Any YAML file the gateway's tools read besides the config (policy test files), with the config's
 * manners: parsed keeping node positions, validated with a zod schema, and every problem reported
 * as `file:line path: problem`, sorted by line, in one `ConfigError`. No `${env:}`/`${file:}`
 * interpolation: these files hold no secrets.
 */
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { describeIssues, type Problem } from './issues.ts';
import { formatPath, locate, type KeyPath } from './yaml-nodes.ts';

export interface YamlFile<T> {
  data: T;
  /** The 1-based line of a key path (of its nearest present ancestor when absent). */
  lineOf(path: KeyPath): number;
}

/**
 * Parse and validate `text`. `more` adds problems zod cannot see (checks across entries), given
 * the validated data. Throws `ConfigError`.
 */
export function parseYamlFile<S extends z.ZodType>(text: string, file: string, schema: S, more?: (data: z.output<S>) => Problem[]): YamlFile<z.output<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`));
  }
  const lineOf = (path: KeyPath) => locate(doc, lines, path).line;
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) throw new ConfigError([`${file}:1: the file is empty`]);
  const valueAt = (path: KeyPath) => path.reduce<unknown>((v, k) => (v != null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), data);
  const result = schema.safeParse(data);
  const problems: Problem[] = result.success ? (more?.(result.data) ?? []) : describeIssues(result.error.issues, valueAt, schema);
  if (problems.length > 0 || !result.success) {
    const located = (problems.length > 0 ? problems : [{ path: [], message: 'invalid file' }]).map((p, i) => {
      const line = lineOf(p.path);
      const where = formatPath(p.path);
      return { line, i, text: where === '' ? `${file}:${line}: ${p.message}` : `${file}:${line} ${where}: ${p.message}` };
    });
    throw new ConfigError(located.sort((a, b) => a.line - b.line || a.i - b.i).map((p) => p.text));
  }
  return { data: result.data, lineOf };
}
