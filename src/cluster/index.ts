/**
 * Several worker processes for `pgwarden start` (`workers: auto|N`).
 *
 * primary (no sessions, no store) ─ fork ─▶ worker 1 … N, each a whole gateway (startGateway) on
 * the shared PostgreSQL listener; worker 1 also serves HTTP. Per worker: a share of the limits
 * (shares.ts), cancel keys whose pid names the worker, and an audit chain of its own
 * (`<instance>-w<n>`). Through the primary (messages.ts): CancelRequests to the owning worker,
 * broadcasts of revocations and decided reviews to every worker, SIGHUP as a reload of each.
 * With `workers: 1` none of this runs: the gateway is one process, as in tests.
 */
export { AUTO_WORKERS_CAP, MAX_WORKERS, emptyShares, ownerOfPid, pidRange, resolveWorkers, share, shareCapacity, shareLimits, workerInstance } from './shares.ts';
export { ENV_LOCK_TOKEN, ENV_WORKER, ENV_WORKERS, type Broadcast } from './messages.ts';
export { processChannel, workerRole, type WorkerChannel, type WorkerHandlers, type WorkerRole } from './worker-role.ts';
export { runPrimary, type PrimaryOptions } from './primary.ts';
