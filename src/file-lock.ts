/**
 * A SQLite store belongs to one gateway instance. Two instances appending to one file number
 * their records over each other (`UNIQUE constraint failed: audit_records.instance, seq`) and the
 * first then refuses every statement; two review services each arm timers for the other's
 * reviews. So a store file is locked at open by a lock file beside it (`<file>.lock`, made with
 * O_EXCL) naming its holder: the pid of the instance's process (for the workers of one
 * `pgwarden start`, the primary's) and a token of that run. The workers of one run carry the same
 * holder and share the file; anyone else is refused while the holder's process lives. A lock
 * left by a process that died (kill -9, a crash) is taken over. Readers (`pgwarden audit`) take
 * no lock.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Who holds a store: the instance's process and a token of its run. */
export interface LockHolder {
  pid: number;
  token: string;
}

/** A second instance was pointed at a store file another one holds. */
export class StoreLockedError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(
      `${file} is in use by another pgwarden instance (pid ${holder.pid}, lock file ${file}.lock): a SQLite store serves one instance; ` +
        'give each instance its own file, or share a postgres:// store between them',
    );
    this.name = 'StoreLockedError';
  }
}

/** Is a process with this pid alive (EPERM: it is, but someone else's)? */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(lockPath: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(lockPath, 'utf8')) as Partial<LockHolder>;
    return typeof h.pid === 'number' && typeof h.token === 'string' ? { pid: h.pid, token: h.token } : null;
  } catch {
    return null;
  }
}

/** A held lock: `release()` removes the lock file if it is still this holder's. */
export interface FileLock {
  release(): void;
}

/**
 * Lock `file` for `holder`, or throw StoreLockedError naming the live holder. Idempotent for the
 * same holder (the workers of one run, or the audit and review stores of one file).
 */
export function lockStoreFile(file: string, holder: LockHolder): FileLock {
  const lockPath = `${file}.lock`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const found = readHolder(lockPath);
      if (found && found.token === holder.token && found.pid === holder.pid) return releaser(lockPath, holder);
      if (found && processAlive(found.pid)) throw new StoreLockedError(file, found);
      // Written half (a crash between create and write) or left by a dead process: take it over.
      // Another starter may take it over at the same moment; the O_EXCL create decides.
      if (!found) {
        // Give a starter that has just made it the time to write its holder.
        const again = (() => {
          const until = Date.now() + 200;
          while (Date.now() < until) {
            const h = readHolder(lockPath);
            if (h) return h;
          }
          return null;
        })();
        if (again && processAlive(again.pid) && !(again.token === holder.token && again.pid === holder.pid)) throw new StoreLockedError(file, again);
        if (again && again.token === holder.token && again.pid === holder.pid) return releaser(lockPath, holder);
      }
      try {
        unlinkSync(lockPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(holder));
    } finally {
      closeSync(fd);
    }
    return releaser(lockPath, holder);
  }
  const h = readHolder(lockPath);
  throw new StoreLockedError(file, h ?? { pid: 0, token: '' });
}

/** Locks this process holds, counted: the audit and review stores may name one file. */
const held = new Map<string, number>();

function releaser(lockPath: string, holder: LockHolder): FileLock {
  held.set(lockPath, (held.get(lockPath) ?? 0) + 1);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      const left = (held.get(lockPath) ?? 1) - 1;
      if (left > 0) {
        held.set(lockPath, left);
        return;
      }
      held.delete(lockPath);
      // The process that made the lock removes it; the workers of a run leave it to the run (a
      // lock of a process that is gone is taken over by the next start anyway).
      if (holder.pid !== process.pid) return;
      const found = readHolder(lockPath);
      if (found && found.token === holder.token && found.pid === holder.pid) {
        try {
          unlinkSync(lockPath);
        } catch {
          // Gone already.
        }
      }
    },
  };
}
