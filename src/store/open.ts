/** Open the audit store a configured URL names: `sqlite:PATH`, `postgres://…` or `memory`. */
import { isAbsolute, resolve } from 'node:path';
import type { LockHolder } from '../file-lock.ts';
import type { AuditStore } from './audit-store.ts';
import { MemoryAuditStore } from './memory-audit-store.ts';
import { openPostgresAuditStore } from './postgres-audit-store.ts';
import { openSqliteAuditStore } from './sqlite-audit-store.ts';

export interface OpenStoreOptions {
  /** A relative SQLite path is resolved against this directory (the config file's). */
  baseDir?: string;
  /** Password for a postgres:// store. */
  password?: string;
  /** Open an existing log for reading (the CLI). */
  readOnly?: boolean;
  /** SQLite: lock the file for this instance (see file-lock.ts). */
  lock?: LockHolder;
  /** SQLite: cap the file size in 4 KiB pages (a write past it fails as on a full disk). */
  maxPageCount?: number;
  /** SQLite: fsync every commit (`full`) or rely on the WAL write (`normal`, survives a gateway crash). */
  sync?: 'normal' | 'full';
  /** SQLite: bound of the write-ahead log in bytes (see SqliteStoreOptions.walLimitBytes). */
  walLimitBytes?: number;
}

export function sqlitePath(url: string, baseDir = process.cwd()): string {
  const p = url.slice('sqlite:'.length);
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

export async function openAuditStore(url: string, o: OpenStoreOptions = {}): Promise<AuditStore> {
  if (url === 'memory') return new MemoryAuditStore();
  if (url.startsWith('sqlite:')) return openSqliteAuditStore(sqlitePath(url, o.baseDir), { readOnly: o.readOnly, lock: o.lock, maxPageCount: o.maxPageCount, sync: o.sync, walLimitBytes: o.walLimitBytes });
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgresAuditStore(url, { password: o.password });
  throw new Error(`unknown audit store ${url.replace(/:\/\/[^@]*@/, '://…@')}: use sqlite:PATH, postgres://… or memory`);
}
