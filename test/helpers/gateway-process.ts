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
  await waitFor(`pgwarden start to log ${ready.source}`, () => ready.test(stderr), 30_000);
  return gw;
}
