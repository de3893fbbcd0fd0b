/**
 * A worker's side of the cluster: its number, whether it serves the HTTP surfaces, and the IPC
 * with the primary (cancels for sessions of other workers, broadcasts to them, theirs to it).
 */
import type { LockHolder } from '../file-lock.ts';
import { isMessage, type Broadcast, type ToPrimary, type ToWorker } from './messages.ts';

export interface WorkerHandlers {
  /** Another worker's broadcast, applied here; resolves with this worker's count. */
  broadcast(b: Broadcast): Promise<number> | number;
  /** A CancelRequest another worker received for one of this worker's sessions. */
  cancel(pid: number, secret: Buffer): void;
}

export interface WorkerRole {
  /** 1 … count. */
  number: number;
  count: number;
  /** Worker 1 serves the HTTP listener (console, admin and reviews API, /mcp, health). */
  http: boolean;
  /** The run's hold on its SQLite store files (the primary's pid, a token of the run): every worker shares it. */
  lock: LockHolder;
  /** Tell every other worker; resolves with the sum of their counts once all live ones answered. */
  broadcast(b: Broadcast): Promise<number>;
  /** Send a CancelRequest to the worker that owns `pid`. */
  forwardCancel(pid: number, secret: Buffer): void;
  /** Install what this worker does with messages from the others (queued until then). */
  handle(h: WorkerHandlers): void;
}

export interface WorkerChannel {
  send(m: ToPrimary): void;
  on(listener: (m: ToWorker) => void): void;
}

/** The channel to the primary of a cluster worker process. */
export function processChannel(): WorkerChannel {
  return {
    send: (m) => {
      // The primary gone (disconnect) is handled by the start command: the worker stops.
      if (process.connected) process.send?.(m);
    },
    on: (listener) => process.on('message', (m: unknown) => {
      if (isMessage<ToWorker>(m)) listener(m);
    }),
  };
}

export function workerRole(number: number, count: number, channel: WorkerChannel, lock: LockHolder): WorkerRole {
  let handlers: WorkerHandlers | null = null;
  const queued: ToWorker[] = [];
  const calls = new Map<number, (n: number) => void>();
  let nextId = 1;

  const dispatch = (m: ToWorker) => {
    switch (m.pgw) {
      case 'done': {
        const resolve = calls.get(m.id);
        calls.delete(m.id);
        resolve?.(m.n);
        return;
      }
      case 'cancel':
      case 'apply':
        if (!handlers) {
          queued.push(m);
          return;
        }
        if (m.pgw === 'cancel') handlers.cancel(m.pid, Buffer.from(m.secret, 'hex'));
        else {
          const id = m.id;
          Promise.resolve()
            .then(() => handlers!.broadcast(m.broadcast))
            .then(
              (n) => channel.send({ pgw: 'answer', id, n }),
              () => channel.send({ pgw: 'answer', id, n: 0 }),
            );
        }
        return;
      default:
        // reload and stop are the start command's (see cli/start.ts).
        return;
    }
  };
  channel.on(dispatch);

  return {
    number,
    count,
    http: number === 1,
    lock,
    broadcast(b) {
      const id = nextId++;
      return new Promise((resolve) => {
        calls.set(id, resolve);
        channel.send({ pgw: 'call', id, broadcast: b });
      });
    },
    forwardCancel(pid, secret) {
      channel.send({ pgw: 'cancel', pid, secret: secret.toString('hex') });
    },
    handle(h) {
      handlers = h;
      for (const m of queued.splice(0)) dispatch(m);
    },
  };
}
