/**
 * The admin API: revocations. Revoking a subject refuses its new connections and ends its open
 * sessions at once; the answer says how many sessions were ended.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { adminAuth, type AdminAuthDeps, type AdminEnv } from './admin-auth.ts';
import { HttpProblem } from './problem.ts';

export interface AdminDeps extends AdminAuthDeps {
  logger: Logger;
  revoke: (subject: string, issuer?: string) => Promise<{ terminated: number }> | { terminated: number };
  unrevoke: (subject: string, issuer?: string) => Promise<void> | void;
  revocations: () => { subject: string; issuer?: string; at: string }[];
}

const revocationBody = z
  .object({
    subject: z.string().min(1),
    /** Issuer URL or configured short name; absent means the subject of every issuer. */
    issuer: z.string().min(1).optional(),
  })
  .strict();

const MAX_BODY = 16 * 1024;

export function adminRoutes(deps: AdminDeps): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();
  admin.use('*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  admin.use('*', adminAuth(deps));
  admin.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: () => {
        throw new HttpProblem(413, 'too_large', `request body over ${MAX_BODY} bytes`);
      },
    }),
  );

  admin.get('/revocations', (c) => c.json({ revocations: deps.revocations() }));

  admin.post('/revocations', async (c) => {
    const { subject, issuer } = await readRevocation(c.req.raw);
    let terminated: number;
    try {
      ({ terminated } = await deps.revoke(subject, issuer));
    } catch (err) {
      deps.logger.error({ err, subject, issuer }, 'revocation could not be stored');
      throw new HttpProblem(503, 'store_unavailable', `${subject} is revoked in this gateway process, but the revocation could not be stored and would not survive a restart`, {
        hint: 'Check the audit store, then revoke again.',
      });
    }
    deps.logger.warn({ subject, issuer, terminated, by: c.get('identity').subject }, 'subject revoked through the admin API');
    return c.json({ subject, issuer: issuer ?? null, terminated });
  });

  admin.delete('/revocations', async (c) => {
    const { subject, issuer } = await readRevocation(c.req.raw);
    try {
      await deps.unrevoke(subject, issuer);
    } catch (err) {
      deps.logger.error({ err, subject, issuer }, 'lifting the revocation could not be stored');
      throw new HttpProblem(503, 'store_unavailable', `the revocation of ${subject} is lifted in this gateway process, but the store still holds it: it comes back at restart`, {
        hint: 'Check the audit store, then lift it again.',
      });
    }
    deps.logger.warn({ subject, issuer, by: c.get('identity').subject }, 'revocation lifted through the admin API');
    return c.json({ subject, issuer: issuer ?? null, revoked: false });
  });

  return admin;
}

async function readRevocation(req: Request): Promise<z.infer<typeof revocationBody>> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new HttpProblem(400, 'bad_request', 'the body must be JSON: {"subject": "...", "issuer": "..."}');
  }
  const parsed = revocationBody.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length > 0 ? first.path.join('.') : 'body';
    throw new HttpProblem(400, 'bad_request', `${where}: ${first.message}`, { hint: 'Send {"subject": "...", "issuer": "..."}; issuer is optional.' });
  }
  return parsed.data;
}
