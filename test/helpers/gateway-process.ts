/** `pgwarden start` in a process of its own, as a user runs it (tests of workers and signals). */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';

const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));

/** The log line that says all `n` workers listen. */
export const workersListening = (n: number): RegExp => new RegExp(`"workers":${n}[^\\n]*pgwarden listening`);

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** Everything it has logged so far (its logs go to stderr). */
  readonly stderr: string;
  /** Its exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

/**
 * Writes `config` to `configFile`, starts `pgwarden start --config configFile` and waits (30 s at
 * most) until its log matches `ready`.
 */
export async function startGatewayProcess(configFile: string, config: unknown, ready: RegExp, o: { cwd?: string } = {}): Promise<GatewayProcess> {
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [BIN, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'], ...(o.cwd ? { cwd: o.cwd } : {}) });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const gw: GatewayProcess = {
    child,
    exited,
    get stderr() {
      return stderr;
    },
  };
  // Ended before it was ready (a port taken meanwhile, a bad config): say so at once, with its log.
  const early = exited.then((code) => {
    throw new Error(`pgwarden start exited (${code}) before it was ready`);
  });
  const readyLogged = waitFor(`pgwarden start to log ${ready.source}`, () => ready.test(stderr), 30_000);
  early.catch(() => {});
  readyLogged.catch(() => {});
  try {
    await Promise.race([readyLogged, early]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; its log ends with:\n${stderr.slice(-3000)}`);
  }
  return gw;
}
