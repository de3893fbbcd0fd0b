/** `AuditStore.readAfter` (what the SIEM exporters read with) in memory and SQLite; PostgreSQL in its own test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryAuditStore } from './memory-audit-store.ts';
import { openSqliteAuditStore } from './sqlite-audit-store.ts';
import { readAfterCases } from '../audit/test-read-after.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-read-after-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('readAfter: one chain from a seq, in seq order', () => {
  test('memory', async () => {
    await readAfterCases(new MemoryAuditStore());
  });
  test('SQLite', async () => {
    const store = await openSqliteAuditStore(join(dir, 'audit.db'));
    try {
      await readAfterCases(store);
    } finally {
      await store.close();
    }
  });
});
