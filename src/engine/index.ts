/**
 * The statement pipeline, independent of the transport: a `Session` relays one client's
 * messages to its upstream connection and the responses back, keeping protocol order for the
 * replies the gateway makes itself. The wire listener (`proxy/`) feeds it a socket; other
 * front ends can feed it any Duplex stream that speaks the same protocol.
 */
export { Session, OPEN_GATE, errorResponse, type SessionOptions, type StatementGate, type GateVerdict } from './session.ts';
export { PolicyGate, splitPath, type PolicyState, type PolicyGateOptions, type ReviewPort } from './gate.ts';
export { channelPair } from './channel.ts';
export type { StatementAudit, AuditedStatement, AuditedOutcome } from './audit-port.ts';
export type { MaskingPort, RowPlan, Outputs } from './results.ts';
export { PINNED_UPSTREAM_SETTINGS, pinnedSettingDrift, startupLexingRefusal } from './lexing-settings.ts';
export { governedRenameRefusal, governedRules, unboundRules, type GovernedRules } from './governed-renames.ts';
export { BufferBudget, type BufferLimits } from './buffer-budget.ts';
export { statementChecks, maskingRefusal, type StatementChecksInput } from './statement-checks.ts';
