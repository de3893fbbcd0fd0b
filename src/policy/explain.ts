/**
 * A human-readable account of a decision, for `pgwarden explain` and the console: per statement
 * its command and class, the tables with their operations and columns, the functions, DDL
 * targets, setting changes and specials (and the same for a contained statement), then the
 * verdict and the rule behind it.
 */
import type { StatementAnalysis } from '../sql/types.ts';
import type { Scope } from './compile.ts';
import { formatMs } from './format.ts';
import { qualified } from './pattern.ts';
import type { Decision } from './types.ts';

export function explainDecision(scope: Scope, analyses: StatementAnalysis[], decision: Decision): string {
  const lines: string[] = [];
  lines.push(`identity: ${scope.identityLabel}`);
  lines.push(`policies: ${scope.policies.join(', ')}`);
  lines.push(`limits: ${describeLimits(scope)}`);
  analyses.forEach((a, i) => {
    const refused = decision.verdict === 'deny' && decision.statement === i;
    const undecided = decision.verdict === 'deny' && i > decision.statement;
    lines.push(`statement ${i + 1}: ${a.command} (${a.class})${refused ? ' — refused' : undecided ? ' — not decided (an earlier statement was refused)' : ''}`);
    describeStatement(a, '  ', lines);
  });
  if (decision.verdict === 'allow') {
    lines.push(`verdict: allow${decision.policies.length > 0 ? ` (grants used: ${decision.policies.join(', ')})` : ''}`);
  } else {
    lines.push(`verdict: deny statement ${decision.statement + 1} by rule ${decision.rule}`);
    lines.push(`  ${decision.message}`);
    lines.push(`  hint: ${decision.hint}`);
  }
  return lines.join('\n');
}

function describeLimits(scope: Scope): string {
  const l = scope.limits;
  const parts = [l.readOnly ? 'read-only' : 'read-write'];
  if (l.statementTimeoutMs !== undefined) parts.push(`statement_timeout ≤ ${formatMs(l.statementTimeoutMs)}`);
  if (l.maxRows !== undefined) parts.push(`max_rows ${l.maxRows}`);
  if (l.role !== undefined) parts.push(`role ${l.role}`);
  return parts.join(', ');
}

function describeStatement(a: StatementAnalysis, indent: string, lines: string[]): void {
  if (a.unsupported !== undefined) lines.push(`${indent}unsupported: ${a.unsupported}`);
  for (const t of a.tables) {
    const rel = qualified(t.relation.schema, t.relation.name) || '(unnamed)';
    const cols = t.allColumns === true ? ' (all columns, not listed)' : t.columns.length > 0 ? ` (${t.columns.join(', ')})` : '';
    lines.push(`${indent}table: ${t.op} ${rel}${cols}${t.relation.resolved ? '' : ' [unresolved]'}`);
  }
  if (a.functions.length > 0) {
    lines.push(`${indent}functions: ${a.functions.map((f) => `${qualified(f.schema, f.name)}${f.resolved ? '' : ' [unresolved]'}`).join(', ')}`);
  }
  for (const d of a.ddl) lines.push(`${indent}ddl: ${d.action} ${d.objectType}${d.schema !== undefined || d.name !== undefined ? ` ${qualified(d.schema, d.name)}` : ''}`);
  for (const s of a.settings) lines.push(`${indent}setting: ${s.action}${s.name === null ? '' : ` ${s.name}`}${s.value === null ? '' : ` = ${s.value}`}`);
  if (a.specials.length > 0) lines.push(`${indent}specials: ${a.specials.join(', ')}${a.doLanguage === undefined ? '' : ` (language ${a.doLanguage})`}`);
  if (a.inner !== undefined) {
    lines.push(`${indent}contains: ${a.inner.command} (${a.inner.class})`);
    describeStatement(a.inner, `${indent}  `, lines);
  }
}
