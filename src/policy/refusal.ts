/**
 * A refusal before it becomes a Decision: what the identity may not do (the message after
 * `pgwarden: <identity> `), the hint, and the rule behind it.
 *
 * Rules: a policy name (one of its deny entries), 'default-deny' (nothing grants it),
 * 'unsupported' (the analyser could not understand the statement), 'internal' (the decision
 * itself failed; refused, fail closed), 'limits:read-only', 'limits:statement-timeout',
 * 'limits:max-rows', and the built-ins: 'builtin:dangerous-functions', 'builtin:copy-server',
 * 'builtin:load', 'builtin:untrusted-language', 'builtin:session-hardening',
 * 'builtin:protected-catalog', 'builtin:protected-settings', 'builtin:security-definer', 'builtin:database-objects',
 * 'builtin:two-phase-commit'.
 */
export interface Refusal {
  what: string;
  hint: string;
  rule: string;
}

/** What every check reads and writes while one query string is decided. */
export interface DecideContext {
  readonly scope: import('./compile.ts').Scope;
  /** Names of the policies whose grants the allowed statements relied on. */
  readonly used: Set<string>;
  /** Former names of renamed objects, when the caller knows them. */
  readonly former?: import('./types.ts').FormerNames;
}
