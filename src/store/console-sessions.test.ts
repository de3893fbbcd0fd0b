/**
 * Console sessions in the audit stores (memory and SQLite; PostgreSQL in its own test file):
 * stored, found by id, ended by id, ended for a subject by issuer URL, configured name or any
 * issuer, and expired ones dropped when another is stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryAuditStore } from './memory-audit-store.ts';
import { openSqliteAuditStore } from './sqlite-audit-store.ts';
import { consoleSessionCases } from './test-console-sessions.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-console-sessions-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('console sessions in the audit store', () => {
  test('memory', async () => {
    await consoleSessionCases(new MemoryAuditStore());
  });
  test('SQLite, and a second handle of the same file', async () => {
    const path = join(dir, 'audit.db');
    const a = await openSqliteAuditStore(path);
    const b = await openSqliteAuditStore(path);
    try {
      await consoleSessionCases(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
