/**
 * Policy as code: `pgwarden policy test` runs a file of cases (identity, database, SQL, the
 * expected decision and masks) through the gateway's own checks (policy-eval.ts) and exits
 * non-zero with a diff when one is decided otherwise; `pgwarden policy diff OLD NEW` shows which
 * recorded statements two configs decide differently; `pgwarden catalog dump` writes the catalog
 * snapshot both can use instead of a live database.
 */
import { readFile } from 'node:fs/promises';
import { CATALOG_SNAPSHOT_FORMAT, loadCatalog, loadCatalogContents, parseCatalogFile, snapshotFrom, type CatalogContents } from '../catalog/index.ts';
import type { CatalogSnapshot } from '../catalog/types.ts';
import { ConfigError, databaseRoutes, loadConfigFile, type GatewayConfig } from '../config/index.ts';
import type { Identity } from '../identity/types.ts';
import { ScramKeyCache, SimpleQuerySession, connectUpstream, targetFor } from '../upstream/index.ts';
import { CliError, configPath, type ConfigLocation } from './common.ts';
import { rowEstimator } from '../engine/row-estimate.ts';
import { PolicyEvaluator, type CatalogSource, type EstimatorSource, type Outcome, type Statement } from './policy-eval.ts';
import { describeMasks, describeOutcome, differences, parseTests, type TestIdentity } from './policy-tests.ts';

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/** Open a catalog connection to an upstream with the config's held credentials. */
async function withUpstream<T>(config: GatewayConfig, upstream: string, use: (db: SimpleQuerySession) => Promise<T>): Promise<T> {
  let conn;
  try {
    conn = await connectUpstream(targetFor(upstream, config.upstreams[upstream]), { application_name: 'pgwarden-policy' }, new ScramKeyCache());
  } catch (err) {
    const why = (err as { cause?: Error }).cause?.message;
    throw new CliError(`cannot load the catalog of upstream "${upstream}": ${why ?? (err as Error).message} (or pass --catalog with a snapshot from pgwarden catalog dump)`);
  }
  const db = new SimpleQuerySession(conn.socket);
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

/**
 * Where catalogs come from: snapshot files (`--catalog`, repeatable), else each upstream, loaded
 * once. A snapshot applies to the upstream it names; when the config has no upstream of that name,
 * to the one its database routes to; a single snapshot naming neither, to every upstream.
 */
export async function catalogSource(config: GatewayConfig, files: readonly string[]): Promise<CatalogSource> {
  const loaded = new Map<string, Promise<CatalogSnapshot>>();
  if (files.length === 0) {
    return (upstream) => {
      let p = loaded.get(upstream);
      if (!p) loaded.set(upstream, (p = withUpstream(config, upstream, (db) => loadCatalog(db, 1))));
      return p;
    };
  }
  const routes = databaseRoutes(config);
  const byUpstream = new Map<string, CatalogSnapshot>();
  let any: CatalogSnapshot | undefined;
  for (const file of files) {
    const parsed = parseCatalogFile(await readText(file, 'catalog snapshot'));
    if (typeof parsed === 'string') throw new CliError(`${file}: ${parsed}`);
    const snapshot = snapshotFrom(parsed.catalog, 1);
    const upstream = parsed.upstream !== undefined && parsed.upstream in config.upstreams ? parsed.upstream : parsed.database !== undefined ? routes.get(parsed.database) : undefined;
    if (upstream !== undefined) byUpstream.set(upstream, snapshot);
    else if (files.length === 1) any = snapshot;
    else throw new CliError(`${file}: the snapshot names no upstream or database of this config (upstream "${parsed.upstream ?? ''}", database "${parsed.database ?? ''}")`);
  }
  return async (upstream) => {
    const s = byUpstream.get(upstream) ?? any;
    if (!s) throw new CliError(`no catalog snapshot for upstream "${upstream}": dump one with pgwarden catalog dump --database <a database it serves>`);
    return s;
  };
}

/**
 * The planner's row estimates, on a connection made as the statement's session would be (the
 * scope's role and settings, its search_path), as the gateway estimates for review rules with
 * `max_rows` (engine/row-estimate.ts: EXPLAIN only, in a read-only session).
 */
export function liveEstimator(config: GatewayConfig): EstimatorSource {
  const scram = new ScramKeyCache();
  return (s, upstream, scope) =>
    rowEstimator({
      connect: async () => {
        // Loaded only when estimating: the composition root pulls in every part.
        const { upstreamSettingsFor } = await import('../main.ts');
        const params = { application_name: 'pgwarden-estimate', client_encoding: 'UTF8', ...upstreamSettingsFor(scope), ...(s.searchPath !== undefined && { search_path: s.searchPath }) };
        return new SimpleQuerySession((await connectUpstream(targetFor(upstream, config.upstreams[upstream]), params, scram)).socket);
      },
    });
}

/** A test or recorded identity as the gateway's verifier would make it. */
function identityFor(config: GatewayConfig, who: TestIdentity): Identity | string {
  const issuers = config.identity.issuers;
  const cfg = who.issuer === undefined ? issuers[0] : issuers.find((i) => i.issuer === who.issuer || i.name === who.issuer);
  if (!cfg) return `issuer "${who.issuer}" is not in the config (known: ${issuers.map((i) => i.name ?? i.issuer).join(', ')})`;
  return { issuer: cfg.issuer, issuerName: cfg.name ?? cfg.issuer, subject: who.subject, groups: who.groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

function whoText(s: Statement): string {
  const groups = s.identity.groups.length > 0 ? ` (groups: ${s.identity.groups.join(', ')})` : '';
  return `${s.identity.subject}${groups} on ${s.database}`;
}

// ---------------------------------------------------------------------------------------------
// policy test

export interface PolicyTestOptions extends ConfigLocation {
  catalog?: string[];
  json?: boolean;
}

/** `out` receives the report (default: standard output). */
export async function policyTestCommand(testsFile: string, o: PolicyTestOptions, out: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const config = await loadConfigFile(configPath(o));
  const loaded = parseTests(await readText(testsFile, 'tests file'), testsFile);
  const { tests } = loaded;
  const routes = databaseRoutes(config);
  // Problems only the config can tell (issuers, databases) are reported like the file's own.
  const problems: string[] = [];
  const statements: Statement[] = tests.cases.map((c, i) => {
    const who = typeof c.identity === 'string' ? tests.identities[c.identity] : c.identity;
    const identity = identityFor(config, who);
    if (typeof identity === 'string') problems.push(`${testsFile}:${loaded.lineOf(i, 'identity')} cases[${i}].identity: ${identity}`);
    const database = c.database ?? tests.database ?? [...routes.keys()][0];
    if (!routes.has(database)) problems.push(`${testsFile}:${loaded.lineOf(i, c.database !== undefined ? 'database' : 'name')} cases[${i}].database: "${database}" is not served by the config (known: ${[...routes.keys()].join(', ')})`);
    const searchPath = c.search_path ?? tests.search_path;
    return { identity: identity as Identity, database, sql: c.sql, ...(searchPath !== undefined && { searchPath }), ...(c.estimated_rows !== undefined && { estimatedRows: c.estimated_rows }) };
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const files = o.catalog ?? [];
  const evaluator = new PolicyEvaluator(config, await catalogSource(config, files), files.length === 0 ? liveEstimator(config) : undefined);
  const results: { index: number; outcome: Outcome; diffs: string[] }[] = [];
  for (const [i, c] of tests.cases.entries()) {
    const outcome = await evaluator.evaluate(statements[i]);
    results.push({ index: i, outcome, diffs: differences(c, outcome) });
  }
  const failed = results.filter((r) => r.diffs.length > 0);
  if (o.json) {
    const report = results.map((r) => ({ name: tests.cases[r.index].name, line: loaded.lines[r.index], passed: r.diffs.length === 0, expected: tests.cases[r.index].expect, got: r.outcome, differences: r.diffs }));
    out(JSON.stringify({ cases: report, passed: results.length - failed.length, failed: failed.length }, null, 2) + '\n');
  } else {
    const lines: string[] = [];
    for (const r of results) {
      const c = tests.cases[r.index];
      if (r.diffs.length === 0) {
        lines.push(`ok   ${c.name}`, ...r.outcome.notes.map((n) => `     note: ${n}`));
        continue;
      }
      const s = statements[r.index];
      const masks = describeMasks(r.outcome);
      lines.push(
        `FAIL ${c.name} (${testsFile}:${loaded.lines[r.index]})`,
        `     identity: ${whoText(s)}${s.searchPath !== undefined ? `, search_path ${s.searchPath}` : ''}`,
        `     sql:      ${c.sql.trim().replace(/\s*\n\s*/g, ' ')}`,
        `     expected: ${c.expect}${c.rule !== undefined ? ` by rule ${c.rule}` : ''}`,
        `     got:      ${describeOutcome(r.outcome)}`,
        ...(r.outcome.hint ? [`     hint:     ${r.outcome.hint}`] : []),
        ...(masks !== undefined && c.masks !== undefined ? [`     masks:    ${masks}`] : []),
        ...r.diffs.map((d) => `     - ${d}`),
        ...r.outcome.notes.map((n) => `     note: ${n}`),
      );
    }
    lines.push(`${results.length} case${results.length === 1 ? '' : 's'}: ${results.length - failed.length} passed, ${failed.length} failed`);
    out(lines.join('\n') + '\n');
  }
  if (failed.length > 0) throw new CliError(`${failed.length} of ${results.length} policy tests failed`);
}

// ---------------------------------------------------------------------------------------------
// policy diff

export interface PolicyDiffOptions {
  statements: string;
  catalog?: string[];
  identity?: string;
  issuer?: string;
  database?: string;
  searchPath?: string;
  exitCode?: boolean;
}

/**
 * Read recorded statements: JSON lines from `pgwarden audit export` (statement records; other
 * records are skipped), JSON lines `{"sql", "identity": {subject, groups, issuer}, "database"}`,
 * or plain lines of SQL taken as `--identity` on `--database`.
 */
export function parseStatementLines(text: string, file: string, fallback: { identity?: TestIdentity; database?: string }): { who: TestIdentity; database?: string; sql: string }[] {
  const out: { who: TestIdentity; database?: string; sql: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('--') || line.startsWith('#')) return;
    if (!line.startsWith('{')) {
      if (!fallback.identity) throw new CliError(`${file}:${i + 1}: a plain SQL line needs --identity SUBJECT[,group…]`);
      out.push({ who: fallback.identity, database: fallback.database, sql: line });
      return;
    }
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new CliError(`${file}:${i + 1}: not valid JSON`);
    }
    // An audit record: only statements carry SQL.
    const data = (r.type !== undefined ? (r.type === 'statement' ? r.data : undefined) : r) as Record<string, unknown> | undefined;
    if (!data) return;
    const sql = typeof data.text === 'string' ? data.text : typeof data.sql === 'string' ? data.sql : undefined;
    if (sql === undefined) throw new CliError(`${file}:${i + 1}: no statement text (text or sql)`);
    const id = data.identity as { subject?: unknown; groups?: unknown; issuer?: unknown } | undefined;
    const who: TestIdentity | undefined =
      id && typeof id.subject === 'string'
        ? { subject: id.subject, groups: Array.isArray(id.groups) ? id.groups.map(String) : [], ...(typeof id.issuer === 'string' && { issuer: id.issuer }) }
        : fallback.identity;
    if (!who) throw new CliError(`${file}:${i + 1}: no identity (record one, or pass --identity)`);
    out.push({ who, database: typeof data.database === 'string' ? data.database : fallback.database, sql });
  });
  return out;
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.verdict === b.verdict && a.rule === b.rule && a.message === b.message && describeMasks(a) === describeMasks(b);
}

/** `out` receives the report (default: standard output). */
export async function policyDiffCommand(oldFile: string, newFile: string, o: PolicyDiffOptions, out: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const [before, after] = [await loadConfigFile(oldFile), await loadConfigFile(newFile)];
  const fallbackWho = o.identity === undefined ? undefined : parseWho(o.identity, o.issuer);
  const recorded = parseStatementLines(await readText(o.statements, 'statements file'), o.statements, { identity: fallbackWho, database: o.database });
  // Each distinct (identity, database, text) once.
  const seen = new Set<string>();
  const unique = recorded.filter((r) => {
    const key = JSON.stringify([r.who.issuer ?? '', r.who.subject, [...r.who.groups].sort(), r.database ?? '', r.sql]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const files = o.catalog ?? [];
  const evaluators: PolicyEvaluator[] = [];
  for (const c of [before, after]) evaluators.push(new PolicyEvaluator(c, await catalogSource(c, files), files.length === 0 ? liveEstimator(c) : undefined));
  const lines: string[] = [];
  let changed = 0;
  for (const r of unique) {
    const outcomes: Outcome[] = [];
    let s: Statement | undefined;
    for (const [k, config] of [before, after].entries()) {
      const identity = identityFor(config, r.who);
      // A recorded issuer the config no longer names: the statement cannot connect at all.
      const database = r.database ?? [...databaseRoutes(config).keys()][0];
      if (typeof identity === 'string') {
        outcomes.push({ verdict: 'deny', rule: 'unknown-issuer', message: identity, notes: [] });
        continue;
      }
      s = { identity, database, sql: r.sql, ...(o.searchPath !== undefined && { searchPath: o.searchPath }) };
      outcomes.push(await evaluators[k].evaluate(s));
    }
    if (sameOutcome(outcomes[0], outcomes[1])) continue;
    changed++;
    const [a, b] = outcomes;
    const masksA = describeMasks(a);
    const masksB = describeMasks(b);
    lines.push(
      `changed: ${r.who.subject}${r.who.groups.length > 0 ? ` (groups: ${r.who.groups.join(', ')})` : ''} on ${s?.database ?? r.database ?? ''}`,
      `  sql: ${r.sql.trim().replace(/\s*\n\s*/g, ' ')}`,
      `  - ${describeOutcome(a)}`,
      `  + ${describeOutcome(b)}`,
      ...(masksA !== masksB ? [`  - masks: ${masksA ?? '(no rows)'}`, `  + masks: ${masksB ?? '(no rows)'}`] : []),
    );
  }
  lines.push(`${unique.length} distinct statement${unique.length === 1 ? '' : 's'} (of ${recorded.length} recorded): ${changed} would be decided differently`);
  out(lines.join('\n') + '\n');
  if (o.exitCode && changed > 0) throw new CliError(`${changed} statement${changed === 1 ? '' : 's'} would be decided differently`);
}

/** `SUBJECT[,group,group…]` */
function parseWho(text: string, issuer?: string): TestIdentity {
  const [subject, ...groups] = text.split(',').map((s) => s.trim());
  if (!subject) throw new CliError('--identity needs a subject, e.g. --identity analyst,analysts');
  return { subject, groups: groups.filter(Boolean), ...(issuer !== undefined && { issuer }) };
}

// ---------------------------------------------------------------------------------------------
// catalog dump

export interface CatalogDumpOptions extends ConfigLocation {
  database?: string;
}

/**
 * The snapshot as JSON with one relation, function, operator or cast per line: small diffs in
 * version control when the schema changes.
 */
export function catalogFileText(c: CatalogContents, meta: { upstream: string; database: string }): string {
  const list = (items: readonly unknown[]) => (items.length === 0 ? '[]' : `[\n      ${items.map((x) => JSON.stringify(x)).join(',\n      ')}\n    ]`);
  return [
    '{',
    `  "format": ${JSON.stringify(CATALOG_SNAPSHOT_FORMAT)},`,
    `  "upstream": ${JSON.stringify(meta.upstream)},`,
    `  "database": ${JSON.stringify(meta.database)},`,
    `  "dumpedAt": ${JSON.stringify(new Date().toISOString())},`,
    '  "catalog": {',
    `    "currentUser": ${JSON.stringify(c.currentUser)},`,
    `    "defaultSearchPath": ${JSON.stringify(c.defaultSearchPath)},`,
    ...(c.searchPathSetting === undefined ? [] : [`    "searchPathSetting": ${JSON.stringify(c.searchPathSetting)},`]),
    ...(c.attachedCode === undefined ? [] : [`    "attachedCode": ${JSON.stringify(c.attachedCode)},`]),
    `    "schemas": ${JSON.stringify(c.schemas)},`,
    `    "relations": ${list(c.relations)},`,
    `    "functions": ${list(c.functions)},`,
    `    "operators": ${list(c.operators)},`,
    `    "casts": ${list(c.casts)}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function catalogDumpCommand(o: CatalogDumpOptions): Promise<void> {
  const config = await loadConfigFile(configPath(o));
  const routes = databaseRoutes(config);
  const database = o.database ?? [...routes.keys()][0];
  const upstream = routes.get(database);
  if (upstream === undefined) throw new CliError(`database "${database}" is not served by this config (known: ${[...routes.keys()].join(', ')})`);
  const contents = await withUpstream(config, upstream, (db) => loadCatalogContents(db));
  process.stdout.write(catalogFileText(contents, { upstream, database }));
}
