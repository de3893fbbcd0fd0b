/**
 * The primary of `pgwarden start` with several workers. It serves no session and opens no store:
 * it forks the workers (node:cluster, so they share the listening sockets and the primary deals
 * connections out round robin), routes CancelRequests to the worker that owns the key, fans out
 * broadcasts (revocations, decided reviews) and collects the answers, forwards SIGHUP as a reload,
 * stops the workers on SIGTERM / SIGINT, and replaces a worker that died.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import { ENV_LOCK_TOKEN, ENV_WORKER, ENV_WORKERS, isMessage, type ToPrimary, type ToWorker } from './messages.ts';
import { ownerOfPid } from './shares.ts';

export interface PrimaryOptions {
  count: number;
  logger: Logger;
  /** Called on SIGHUP before the workers are told to reload (e.g. to warn of settings needing a restart). */
  reloading?(): void;
  /** How long the workers have to finish their sessions on SIGTERM (each reads its own config). */
  graceMs(): number;
  /** End the primary's process (after its last log lines). */
  exit(code: number): Promise<never>;
}

/** Longest wait for every worker's answer to a broadcast. */
const BROADCAST_TIMEOUT_MS = 5000;
/** A worker that dies is replaced after this long (not in a tight loop if it dies at once again). */
const RESPAWN_DELAY_MS = 1000;

interface Call {
  from: number;
  id: number;
  waiting: Set<number>;
  n: number;
  timer: NodeJS.Timeout;
}

/** Fork the workers and resolve once every one listens; rejects (after stopping them) when one cannot start. */
export function runPrimary(o: PrimaryOptions): Promise<{ postgres: { host: string; port: number }; http?: { host: string; port: number } }> {
  const log = o.logger;
  const workers = new Map<number, Worker>();
  const ready = new Set<number>();
  const calls = new Map<number, Call>();
  let nextCall = 1;
  let stopping = false;
  let started = false;
  let exitCode = 0;
  // The run's hold on the SQLite store files: each worker locks them in the primary's name.
  const lockToken = randomUUID();
  let addresses: { postgres: { host: string; port: number }; http?: { host: string; port: number } } | undefined;

  const send = (n: number, m: ToWorker) => {
    const w = workers.get(n);
    if (w?.isConnected()) w.send(m);
  };
  const finish = (cid: number) => {
    const c = calls.get(cid);
    if (!c) return;
    calls.delete(cid);
    clearTimeout(c.timer);
    send(c.from, { pgw: 'done', id: c.id, n: c.n });
  };

  return new Promise((resolve, reject) => {
    const fork = (n: number) => {
      const w = cluster.fork({ [ENV_WORKER]: String(n), [ENV_WORKERS]: String(o.count), [ENV_LOCK_TOKEN]: lockToken });
      workers.set(n, w);
      w.on('message', (m: unknown) => {
        if (!isMessage<ToPrimary>(m)) return;
        switch (m.pgw) {
          case 'ready':
            ready.add(n);
            if (n === 1 || !addresses) addresses = { postgres: m.postgres, ...(m.http ? { http: m.http } : addresses?.http ? { http: addresses.http } : {}) };
            if (!started && ready.size === o.count) {
              started = true;
              log.info({ postgres: `${addresses.postgres.host}:${addresses.postgres.port}`, http: addresses.http ? `${addresses.http.host}:${addresses.http.port}` : undefined, workers: o.count }, 'pgwarden listening');
              resolve(addresses);
            } else if (started) log.info({ worker: n }, 'worker replaced and listening');
            return;
          case 'cancel': {
            // The key names its worker; that worker matches the secret against its own sessions.
            const owner = ownerOfPid(m.pid);
            if (owner !== n && workers.has(owner)) send(owner, { pgw: 'cancel', pid: m.pid, secret: m.secret });
            return;
          }
          case 'call': {
            const cid = nextCall++;
            const others = [...workers.keys()].filter((k) => k !== n && workers.get(k)!.isConnected());
            const c: Call = {
              from: n,
              id: m.id,
              waiting: new Set(others),
              n: 0,
              timer: setTimeout(() => {
                log.warn({ broadcast: m.broadcast.kind, unanswered: [...c.waiting] }, 'workers did not answer a broadcast in time');
                finish(cid);
              }, BROADCAST_TIMEOUT_MS),
            };
            calls.set(cid, c);
            for (const k of others) send(k, { pgw: 'apply', id: cid, broadcast: m.broadcast });
            if (c.waiting.size === 0) finish(cid);
            return;
          }
          case 'answer': {
            const c = calls.get(m.id);
            if (!c) return;
            c.n += m.n;
            c.waiting.delete(n);
            if (c.waiting.size === 0) finish(m.id);
            return;
          }
        }
      });
      w.on('exit', (code, signal) => {
        if (workers.get(n) === w) workers.delete(n);
        const wasReady = ready.delete(n);
        for (const [cid, c] of calls) {
          if (c.waiting.delete(n) && c.waiting.size === 0) finish(cid);
        }
        if (stopping) {
          if (workers.size === 0) void o.exit(exitCode);
          return;
        }
        if (!started) {
          // A worker that cannot start: the gateway does not start (its own log says why).
          exitCode = 1;
          stopAll('SIGTERM');
          reject(new Error(`worker ${n} exited while starting (${signal ?? `code ${code}`})`));
          return;
        }
        log.error({ worker: n, code, signal, wasReady }, 'worker died; starting a new one');
        setTimeout(() => {
          if (!stopping) fork(n);
        }, RESPAWN_DELAY_MS).unref();
      });
    };

    const stopAll = (how: 'SIGTERM' | 'SIGKILL') => {
      stopping = true;
      if (how === 'SIGTERM') {
        // A worker that does not stop within its grace (and the shutdown's own bounds) is killed.
        setTimeout(() => stopAll('SIGKILL'), o.graceMs() + 10_000).unref();
      }
      for (const [n, w] of workers) {
        if (how === 'SIGKILL') w.process.kill('SIGKILL');
        else send(n, { pgw: 'stop' });
      }
    };

    process.on('SIGHUP', () => {
      o.reloading?.();
      for (const n of workers.keys()) send(n, { pgw: 'reload' });
    });
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        stopAll('SIGKILL');
        void o.exit(1);
        return;
      }
      log.info({ signal, workers: workers.size, graceMs: o.graceMs() }, 'shutting down');
      if (workers.size === 0) void o.exit(exitCode);
      stopAll('SIGTERM');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);

    for (let n = 1; n <= o.count; n++) fork(n);
  });
}
