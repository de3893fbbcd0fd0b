/**
 * The statement pipeline, independent of the transport: a `Session` relays one client's
 * messages to its upstream lease and the responses back, keeping protocol order for the
 * replies the gateway makes itself. Sessions are opened by `openSession` alone: the wire listener
 * (`proxy/`) calls it with a socket, the MCP tools (through `listener.openInternal`) with an
 * in-memory channel. `pipeline.ts` lists the stages of a statement in order with their errors.
 */
export { Session, OPEN_GATE, errorResponse, type SessionOptions, type StatementGate, type GateVerdict } from './session.ts';
export { PolicyGate, splitPath, type Decisions, type PolicyState, type PolicyGateOptions, type ReviewPort } from './gate.ts';
export { channelPair } from './channel.ts';
export type { StatementAudit, AuditedStatement, AuditedOutcome } from './audit-port.ts';
export type { MaskingPort, RowPlan, Outputs } from './results.ts';
export { PINNED_UPSTREAM_SETTINGS, pinnedSettingDrift, startupLexingRefusal } from './lexing-settings.ts';
export { governedRenameRefusal, governedRules, unboundRules, type GovernedRules } from './governed-renames.ts';
export { BufferBudget, type BufferLimits } from './buffer-budget.ts';
export { openSession, type EngineDeps, type OpenSessionRequest, type SessionContext, type SessionParts, type SessionDirectory, type SessionRoute } from './open.ts';
export { STAGES, OUTSIDE_PIPELINE, CLOCK_BUCKETS, StageClock, type Stage, type StageError, type ClockBucket, type ChunkSource } from './pipeline.ts';
export { StatementStages, type StageTimes, type TracedStage } from './statement-stages.ts';
export { statementChecks, maskingRefusal, type StatementChecksInput } from './statement-checks.ts';
