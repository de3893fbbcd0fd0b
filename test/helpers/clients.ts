/** Real PostgreSQL clients for end-to-end tests: psql and pgbench as processes. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { findPgBin } from './postgres.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, PGCONNECT_TIMEOUT: '10', ...env }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** psql with unaligned, tuples-only output; `args` go before -c. */
export function psql(url: string, sql: string | null, args: string[] = [], input?: string): Promise<RunResult> {
  const a = ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args];
  if (sql !== null) a.push('-c', sql);
  return run(join(findPgBin(), 'psql'), a, {}, input);
}

export function pgbench(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(join(findPgBin(), 'pgbench'), args, env, undefined, 300_000);
}
