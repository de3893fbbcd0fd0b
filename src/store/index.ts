/**
 * Persistence. Today: the audit log, in an embedded SQLite file (default), a PostgreSQL database
 * shared by several gateways, or memory. `openAuditStore(url)` picks one from the configured URL.
 *
 * Data flow: the audit writer appends sealed batches (one transaction each); the CLI and the
 * console search, read and verify. Passwords of a PostgreSQL store MUST NOT appear in errors.
 */
export type { ChainAnchor, ChainHead, RecordType, StoredRecord, Verdict } from './record.ts';
export { StoreError, tableMatches, type AuditQuery, type AuditStore, type StoredConsoleSession, type StoredRow } from './audit-store.ts';
export { MemoryAuditStore } from './memory-audit-store.ts';
export { SqliteAuditStore, openSqliteAuditStore, type SqliteStoreOptions } from './sqlite-audit-store.ts';
export { PostgresAuditStore, openPostgresAuditStore, type PostgresStoreOptions } from './postgres-audit-store.ts';
export { openAuditStore, sqlitePath, type OpenStoreOptions } from './open.ts';
export { PgConnection, PgListener, migrate, storeLocation, type PgListenerOptions } from './pg-connection.ts';
export { literal } from './postgres-audit-store.ts';
export { followRevocations, type RevocationFollower, type RevocationFollowerOptions } from './revocation-follower.ts';
