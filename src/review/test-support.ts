/**
 * Builders for the review tests: identities, a request for a statement, a rule compiled from
 * config input, and a memory audit that keeps the events it was given.
 */
import { createHash } from 'node:crypto';
import type { OtherEvent } from '../audit/index.ts';
import type { Identity } from '../identity/types.ts';
import { compileReviews, type CompiledReviewRule } from './rules.ts';
import { reviewRuleSchema, type ReviewsConfigInput } from './schema.ts';
import type { ReviewRequest } from './types.ts';

export function identity(subject: string, groups: string[] = [], issuer = 'https://idp.example.com'): Identity {
  return { issuer, issuerName: 'test', subject, groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A request for `text` from `who` on `database`, with `params` hashed as given. */
export function requestFor(text: string, who: Identity, o: { database?: string; params?: string; resolution?: string; mode?: 'wait' | 'defer'; rule?: string } = {}): ReviewRequest {
  return {
    rule: o.rule ?? 'destructive',
    mode: o.mode ?? 'defer',
    identity: { issuer: who.issuer, subject: who.subject, groups: who.groups },
    database: o.database ?? 'shop',
    text,
    bytesSha256: sha256(text),
    paramsSha256: sha256(o.params ?? ''),
    resolutionSha256: sha256(o.resolution ?? 'public'),
    analysis: { command: 'drop table', class: 'ddl', tables: ['public.orders'], searchPath: ['public'] },
    sessionId: 'session-1',
  };
}

export function bindingOf(r: ReviewRequest) {
  return { issuer: r.identity.issuer, subject: r.identity.subject, database: r.database, bytesSha256: r.bytesSha256, paramsSha256: r.paramsSha256, resolutionSha256: r.resolutionSha256 };
}

type RuleInput = Partial<NonNullable<ReviewsConfigInput['rules']>[number]>;

export function rule(o: RuleInput = {}): CompiledReviewRule {
  const parsed = reviewRuleSchema.parse({ name: 'destructive', when: ['drop'], approvers: { groups: ['dba'] }, mode: 'defer', ...o });
  return compileReviews({ rules: [parsed] }).rules[0];
}

export function memoryEvents(): { event(e: OtherEvent): void; events: OtherEvent[] } {
  const events: OtherEvent[] = [];
  return { events, event: (e) => void events.push(e) };
}

/** Poll `check` until it holds or `ms` passes (a wait with a deadline, not a sleep). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
