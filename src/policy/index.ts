/**
 * policy/ — who may run what, decided as data.
 *
 * config load ─► policySchema (zod, in config/schema.ts) ─► compilePolicies (patterns compiled,
 * rules indexed) ─► per connection: scopeFor(identity, database) → Scope | null (null: refuse the
 * connection; describeNoScope says why) ─► per statement batch: decide(scope, analyses) →
 * Decision (allow with the policies used / deny with message, hint, rule and statement index)
 * ─► explainDecision for humans.
 *
 * Pure: no I/O, no logger, no clock. decide() never throws: a failure inside it is a refusal.
 * Default deny everywhere: no matching policy, no scope; nothing granted, refused; what the
 * analysis leaves unclear, refused.
 */
export { policySchema, SESSION_PERMISSIONS, TABLE_OPERATIONS, UNTRUSTED_LANGUAGES, type PolicyConfig, type PolicyInput, type SessionPermission } from './schema.ts';
export { compilePolicies, scopeFor, describeNoScope, sessionGrant, DEFAULT_SESSION_PERMISSIONS, type CompiledPolicies, type Scope, type ScopeRules } from './compile.ts';
export { decide } from './decide.ts';
export { explainDecision } from './explain.ts';
export { DANGEROUS_FUNCTIONS, isReadableSetting, PROTECTED_SETTINGS, PROTECTED_CATALOG_RELATIONS, BUILTIN_SCHEMAS, SESSION_GATED_FUNCTIONS, type ProtectedSetting } from './builtins.ts';
export { parseSearchPath, parseTimeoutMs } from './settings.ts';
export type { Decision, SessionLimits, DecisionInput, FormerNames } from './types.ts';
