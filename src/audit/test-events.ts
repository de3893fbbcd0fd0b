/** Builders of audit events for tests: a session and its statements with sensible defaults. */
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
