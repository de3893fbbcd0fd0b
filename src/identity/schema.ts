/**
 * The `identity:` section of `pgwarden.yaml`: the trusted issuers and how sessions follow their
 * tokens (the config loader composes it into the whole schema; this part owns its shape).
 */
import { z } from 'zod';
import { duration } from '../duration.ts';

export const issuerSchema = z
  .object({
    issuer: z.string().url(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** JWKS location; discovered from `${issuer}/.well-known/openid-configuration` when absent. */
    jwks_uri: z.string().url().optional(),
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** Claims tried in order for the subject. */
    subject_claims: z.array(z.string().min(1)).min(1).default(['sub', 'client_id', 'azp']),
    /** Dotted path to the groups claim (e.g. `realm_access.roles`); string or array values. */
    groups_claim: z.string().min(1).default('groups'),
    clock_tolerance: duration.default(30_000),
    /** Shorter name used in policies (`match.issuer`) and logs. */
    name: z.string().optional(),
  })
  .strict();

export const identitySchema = z
  .object({
    issuers: z.array(issuerSchema).min(1),
    /** After a token expires, an open session may finish for this long before it is ended. */
    expiry_grace: duration.default(0),
    /** Cooldown between JWKS refetches triggered by an unknown `kid`, and between retries of a failed discovery or key fetch. */
    jwks_cooldown: duration.default(30_000),
    /**
     * Startup user names a wire client may give besides its token's subject (which is always
     * accepted). Any other name is refused with 28000, as PostgreSQL refuses a wrong role.
     * Default `agent`, the generic name of the examples and published MCP server configs.
     */
    user_names: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type IssuerConfig = z.infer<typeof issuerSchema>;
export type IdentityConfig = z.infer<typeof identitySchema>;
