/** Test support for the audit log: builders of events (a session and its statements, with sensible defaults) and a child process run until it is killed. */
import { spawn } from 'node:child_process';
import type { SessionStartEvent, StatementEndEvent, StatementEvent } from './events.ts';

export function sessionStart(sessionId: string, subject = 'analyst', at = Date.now(), over: Partial<SessionStartEvent> = {}): SessionStartEvent {
  return {
    sessionId,
    at,
    identity: { issuer: 'https://idp.example.com', issuerName: 'idp', subject, groups: ['analysts'], tokenId: `jti-${sessionId}` },
    database: 'app',
    upstream: 'app',
    clientAddress: '127.0.0.1:50000',
    applicationName: 'psql',
    tls: false,
    ...over,
  };
}

export function statement(sessionId: string, seq: number, text: string, over: Partial<StatementEvent> = {}): StatementEvent {
  return {
    sessionId,
    seq,
    at: Date.now(),
    kind: 'query',
    text,
    bytes: Buffer.concat([Buffer.from('Q'), Buffer.alloc(4), Buffer.from(`${text}\0`)]),
    decision: { verdict: 'allow', rule: 'analysts' },
    analysis: { command: 'select', class: 'read', tables: ['public.orders'] },
    ...over,
  };
}

export function statementEnd(id: string, sessionId: string, over: Partial<StatementEndEvent> = {}): StatementEndEvent {
  return { id, sessionId, at: Date.now(), durationMs: 1.5, rows: 1, commandTag: 'SELECT 1', ...over };
}

/**
 * Run `script` (an ES module, from the project root) in a child process that ends itself with
 * SIGKILL, with `AUDIT_DB` set to `db`; resolves with what it printed once it is dead, and
 * rejects if it ended any other way.
 */
export async function runUntilKilled(script: string, db: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), env: { ...process.env, AUDIT_DB: db }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const signal = await new Promise((resolve) => child.on('close', (_code, sig) => resolve(sig)));
  if (signal !== 'SIGKILL') throw new Error(`the child ended with ${String(signal)}, not SIGKILL: ${err}`);
  return out.trim();
}
