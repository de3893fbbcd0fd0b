/**
 * The `console:` section of pgwarden.yaml: the human sign-in (an OIDC issuer and a client
 * registered there), which groups give which console role, and the secret that signs the
 * console's cookies. Without this section the console is not served.
 */
import { z } from 'zod';

const duration = z
  .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(s|m|h|d)$/, 'a duration such as 30m, 8h, 1d')])
  .transform((v) => (typeof v === 'number' ? v * 1000 : toMs(v)));

function toMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim())!;
  return Math.round(Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']);
}

const groups = z.array(z.string().min(1)).default([]);

export const consoleSchema = z
  .object({
    /** The human OIDC issuer (discovery at `${issuer}/.well-known/openid-configuration`). */
    issuer: z.string().url(),
    /** The console's client at that issuer; its redirect URI is `<public_url>/console/callback`. */
    client_id: z.string().min(1),
    /** For a confidential client (client_secret_basic); a public client uses PKCE alone. */
    client_secret: z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'groups']),
    /** Dotted path to the groups claim of the ID token. */
    groups_claim: z.string().min(1).default('groups'),
    /** Which groups hold which role; `admin` implies the other two. */
    roles: z
      .object({ auditor: groups, approver: groups, admin: groups })
      .strict()
      .default({ auditor: [], approver: [], admin: [] }),
    /** Signs the session cookies (HMAC-SHA256): at least 32 characters, e.g. ${env:PGWARDEN_CONSOLE_SECRET}. */
    session_secret: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)'),
    /**
     * How long a sign-in lasts. The human's groups are read from the IdP at sign-in only, so a
     * change of groups there takes effect at the next sign-in: keep this short.
     */
    session_ttl: duration.default(3_600_000),
    /**
     * The URL browsers reach the HTTP listener at (e.g. behind a reverse proxy); default
     * `http://<listen.http>`. An https URL makes the cookies Secure.
     */
    public_url: z.string().url().optional(),
  })
  .strict();

export type ConsoleConfig = z.infer<typeof consoleSchema>;
