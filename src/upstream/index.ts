/**
 * Connections to the real database. The gateway signs in with the credentials it holds
 * (SCRAM-SHA-256, md5, cleartext or trust), optionally over TLS, and hands the authenticated
 * socket to a session; CancelRequests go to the upstream with the upstream's own key.
 *
 * Data flow: config upstream → `targetFromUrl` → `connectUpstream` (TCP, TLS, auth, first
 * ReadyForQuery) → `openLease` → the session relays bytes over the lease's stream and gives it
 * back with `release('clean' | 'dirty' | 'broken')`. Held passwords MUST NOT appear in errors or logs.
 */
export { connectUpstream, cancelUpstream, targetFromUrl, type UpstreamTarget, type UpstreamConnection } from './connect.ts';
export { leaseConnection, openLease, type LeaseEffect, type LeaseOptions, type ReleaseMode, type UpstreamLease } from './lease.ts';
export { ScramKeyCache, ScramSession, md5Password } from './scram.ts';
export { targetFor } from './target.ts';
export { SimpleQuerySession, ServerError, type SqlSession } from './simple-query.ts';
export { UpstreamPool, leaseFromPool, poolKey, type PoolConfig, type PoolStats } from './pool.ts';
export { leaseTransactional, type TransactionLeaseOptions } from './transaction-lease.ts';
