/**
 * `pgwarden explain`: analyse SQL as the gateway would for an identity, and print the analysis
 * and the decision with the rule that made it (`--json` for machines). The catalog is loaded from
 * the upstream the database routes to, with the gateway's held credentials, so names resolve
 * exactly as they would for a live session.
 */
import { databaseRoutes, loadConfigFile } from '../config/index.ts';
import type { Identity } from '../identity/types.ts';
import { loadCatalog } from '../catalog/index.ts';
import { analyse, loadParser, SqlSyntaxError } from '../sql/index.ts';
import { compilePolicies, decide, explainDecision, scopeFor } from '../policy/index.ts';
import { ScramKeyCache, SimpleQuerySession, connectUpstream, targetFor } from '../upstream/index.ts';
import { splitPath } from '../engine/index.ts';
import { compileMasking, maskingFor, planFor, statementRefusal, type MaskingScope } from '../masking/index.ts';
import type { StatementAnalysis } from '../sql/index.ts';

/** The mask plan of each statement's result, from its provenance (types assumed text). */
function maskPlans(masks: MaskingScope, analyses: StatementAnalysis[]) {
  return analyses.map((a) => {
    const outputs = a.outputs ?? a.inner?.outputs;
    const refusal = statementRefusal(masks, a);
    if (refusal) return { refusal };
    if (!outputs) return { columns: [] };
    const fields = outputs.map((o) => ({ name: o.name, tableOid: 0, attnum: 0, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 }));
    const relations = a.tables.map((t) => ({ schema: t.relation.schema, name: t.relation.name }));
    const plan = planFor(masks, fields, outputs, () => undefined, [], relations);
    return 'refuse' in plan ? { refusal: plan.refuse } : { columns: plan.described.map((d) => ({ column: d.name, masker: d.masker })) };
  });
}
import { visible, visibleLines } from '../terminal-text.ts';
import { CliError, configPath, type ConfigLocation } from './common.ts';

export interface ExplainOptions extends ConfigLocation {
  identity: string;
  sql: string;
  database?: string;
  issuer?: string;
  searchPath?: string;
  json?: boolean;
}

/** `SUBJECT[,group,group…]` */
export function parseIdentity(text: string, issuer: string): Identity {
  const [subject, ...groups] = text.split(',').map((s) => s.trim());
  if (!subject) throw new CliError('--identity needs a subject, e.g. --identity analyst,analysts');
  return { issuer, issuerName: issuer, subject, groups: groups.filter(Boolean), claims: {}, expiresAt: Date.now() + 3_600_000 };
}

export async function explainCommand(o: ExplainOptions): Promise<void> {
  const config = await loadConfigFile(configPath(o));
  const routes = databaseRoutes(config);
  const database = o.database ?? [...routes.keys()][0];
  const upstream = routes.get(database);
  if (!upstream) throw new CliError(`database "${database}" is not served by this config (known: ${[...routes.keys()].join(', ')})`);
  const issuerCfg = o.issuer ? config.identity.issuers.find((i) => i.issuer === o.issuer || i.name === o.issuer) : config.identity.issuers[0];
  if (!issuerCfg) throw new CliError(`issuer "${o.issuer}" is not in the config`);
  const identity = parseIdentity(o.identity, issuerCfg.issuer);
  identity.issuerName = issuerCfg.name ?? issuerCfg.issuer;

  await loadParser();
  const target = targetFor(upstream, config.upstreams[upstream]);
  let conn;
  try {
    conn = await connectUpstream(target, { application_name: 'pgwarden-explain' }, new ScramKeyCache());
  } catch (err) {
    const why = (err as { cause?: Error }).cause?.message;
    throw new CliError(`cannot load the catalog of upstream "${upstream}": ${why ?? (err as Error).message}`);
  }
  const db = new SimpleQuerySession(conn.socket);
  let catalog;
  try {
    catalog = await loadCatalog(db, 1);
  } finally {
    await db.close();
  }
  const scope = scopeFor(compilePolicies(config.policies), identity, database);
  const searchPath = o.searchPath ? splitPath(o.searchPath) : catalog.defaultSearchPath;
  let analyses;
  try {
    analyses = analyse(o.sql, { catalog, searchPath });
  } catch (err) {
    if (err instanceof SqlSyntaxError) throw new CliError(`syntax error: ${err.message}${err.position ? ` (at character ${err.position})` : ''}`);
    throw err;
  }
  if (!scope) {
    const out = { identity: { subject: identity.subject, groups: identity.groups }, database, analyses, decision: { verdict: 'deny', rule: 'default-deny', message: `pgwarden: no policy grants ${identity.subject} access to database "${database}"` } };
    process.stdout.write(o.json ? JSON.stringify(out, null, 2) + '\n' : `${visible(out.decision.message)}\n(rule: default-deny: an identity no policy matches cannot connect)\n`);
    return;
  }
  const decision = decide(scope, analyses);
  const masks = maskingFor(compileMasking(config.masking), identity);
  const masking = masks.empty ? [] : maskPlans(masks, analyses);
  if (o.json) {
    process.stdout.write(JSON.stringify({ identity: { subject: identity.subject, groups: identity.groups }, database, policies: scope.policies, limits: scope.limits, analyses, decision, masking }, null, 2) + '\n');
  } else {
    const lines = [explainDecision(scope, analyses, decision)];
    masking.forEach((m, i) => {
      if ('refusal' in m && m.refusal) lines.push(`mask plan of statement ${i + 1}: refused: ${m.refusal}`);
      else if ('columns' in m && m.columns && m.columns.length > 0) lines.push(`mask plan of statement ${i + 1}: ${m.columns.map((c) => `${c.column} → ${c.masker}`).join(', ')}`);
      else lines.push(`mask plan of statement ${i + 1}: nothing masked`);
    });
    // Names come from the database's catalog, which other roles write: escaped (terminal-text.ts).
    process.stdout.write(visibleLines(lines.join('\n')).join('\n') + '\n');
  }
}
