/**
 * The PostgreSQL wire listener. Data flow: accept → handshake (TLS, startup, JWT as password,
 * limits, upstream sign-in) → BackendKeyData minted here → an `engine` Session relays the rest.
 * The registry knows every open session for revocation, cancel and shutdown.
 */
export { listenPostgres, type PostgresListener, type ListenerDeps, type ListenerSettings, type SessionContext } from './listener.ts';
export { SessionRegistry, identityKey, identityLimit, type KeySpace, type Limits, type RegisteredSession } from './registry.ts';
export type { Route } from './handshake.ts';
export { UpstreamCapacities, capacityFrom, readServerLimits, type ServerConnectionLimits } from './capacity.ts';
export { upstreamStartupParams, checkOptions, splitOptions, startupSetting } from './startup-params.ts';
