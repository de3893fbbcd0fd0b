/** Real PostgreSQL clients for end-to-end tests: psql and pgbench as processes. */
import { execFile, spawn } from 'node:child_process';
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

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const PGWARDEN_BIN = join(import.meta.dirname, '../../bin/pgwarden.mjs');

/**
 * The `pgwarden` command line as a user runs it, with a deadline. PGWARDEN_TOKEN is blanked
 * unless `env` sets it, so a token in the test's own environment never leaks into a case.
 */
export function pgwarden(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000, input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PGWARDEN_BIN, ...args], { env: { ...process.env, PGWARDEN_TOKEN: '', ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pgwarden ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
