/**
 * Data files hold what the gateway must keep from other local users: audit records with
 * statements and captured rows, reviews, signing keys. Their directories are made 0700 and the
 * files 0600 — before SQLite opens a database, because SQLite creates its `-wal` and `-shm` files
 * with the database file's permissions — and files left readable by an older version are
 * tightened when they are opened again.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** Make `path`'s directory (0700 when it is new) and the file itself (0600), or tighten both. */
export function ensurePrivateFile(path: string, companions: string[] = ['-wal', '-shm', '-journal']): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) chmodSync(path, 0o600);
  else closeSync(openSync(path, 'a', 0o600));
  for (const suffix of companions) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
}
