/**
 * Reading `pgwarden.yaml`: parse YAML keeping node positions → resolve `${env:…}` / `${file:…}` in
 * string values → validate against the zod schema and the cross-field rules (and, for a file, load
 * the TLS files it names) → a typed config, or a
 * `ConfigError` listing every problem as `file:line path: problem`, sorted by line.
 *
 * All problems are collected in one pass so an operator fixes a file in one edit, not one error at
 * a time. Values are never printed: they may be secrets resolved from the environment or files.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { crossFieldProblems } from './checks.ts';
import { tlsFileProblems } from './files.ts';
import { ConfigError } from './config-error.ts';
import { interpolate } from './interpolate.ts';
import { describeIssues, type Problem } from './issues.ts';
import { configSchema, type GatewayConfig } from './schema.ts';
import { forEachStringValue, formatPath, type KeyPath, locate } from './yaml-nodes.ts';

/** Read, interpolate and validate a config file. Rejects with `ConfigError` (also when unreadable). */
export async function loadConfigFile(path: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([`${path}: cannot read the config file (${code})`]);
  }
  return parseConfig(text, path, process.env, { files: true });
}

/**
 * Parse config text. `file` names the source in problems and anchors relative `${file:…}` paths;
 * `env` resolves `${env:…}` (default: this process's environment). With `files`, the TLS files
 * the config names are loaded too (see files.ts), and a problem with one names its line.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, o: { files?: boolean } = {}): GatewayConfig {
  const lines = new LineCounter();
  // prettyErrors would quote the offending source line, which may hold a secret.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({ line: lines.linePos(e.pos[0]).line, text: `${file}:${lines.linePos(e.pos[0]).line}: ${firstLine(e.message)}` }));
    throw new ConfigError(sortByLine(problems));
  }

  const located: { line: number; text: string }[] = [];
  const report = (path: KeyPath, message: string) => {
    const { line } = locate(doc, lines, path);
    const where = formatPath(path);
    located.push({ line, text: where === '' ? `${file}:${line}: ${message}` : `${file}:${line} ${where}: ${message}` });
  };

  const failedRefs = interpolateDocument(doc, { env, baseDir: dirname(file) }, report);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const valueAt = (path: KeyPath) => path.reduce<unknown>((v, k) => (v != null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), data);

  const result = configSchema.safeParse(data);
  const problems: Problem[] = result.success ? [] : describeIssues(result.error.issues, valueAt, configSchema);
  problems.push(...crossFieldProblems(data));
  for (const p of problems) {
    // A value whose reference could not be resolved has already been reported once.
    if (failedRefs.some((f) => isPrefix(f, p.path))) continue;
    report(p.path, p.message);
  }
  if (located.length > 0 || !result.success) {
    if (located.length === 0) report([], 'invalid configuration');
    throw new ConfigError(sortByLine(located));
  }
  if (o.files) {
    for (const p of tlsFileProblems(result.data)) report(p.path, p.message);
    if (located.length > 0) throw new ConfigError(sortByLine(located));
  }
  return result.data;
}

/** Replace references in every string value in place; returns the paths whose references failed. */
function interpolateDocument(doc: Document, ctx: { env: NodeJS.ProcessEnv; baseDir: string }, report: (path: KeyPath, message: string) => void): KeyPath[] {
  const failed: KeyPath[] = [];
  forEachStringValue(doc, (node, path) => {
    const r = interpolate(node.value as string, ctx);
    if (r.ok) node.value = r.value;
    else {
      failed.push(path);
      report(path, r.problem);
    }
  });
  return failed;
}

function isPrefix(prefix: KeyPath, path: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => String(seg) === String(path[i]));
}

function sortByLine(problems: { line: number; text: string }[]): string[] {
  return problems
    .map((p, i) => ({ ...p, i }))
    .sort((a, b) => a.line - b.line || a.i - b.i)
    .map((p) => p.text);
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
