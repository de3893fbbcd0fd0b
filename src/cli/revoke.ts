/**
 * `pgwarden revoke`: revoke a subject (ending its open sessions), lift a revocation (`--undo`), or
 * list them (`--list`), through the gateway's admin API.
 *
 * Where: `--url`, else the config's `listen.http`, else the demo's `demo.json`. Credentials:
 * `--token`, else `PGWARDEN_TOKEN`, else (with `--data-dir` of a demo) a short-lived token minted
 * for the demo's admin identity.
 */
import { visible } from '../terminal-text.ts';
import { CliError } from './common.ts';
import { apiRequest, apiToken, demoOf, gatewayUrl, type GatewayTarget, type StatusMessage } from './gateway-api.ts';

export interface RevokeOptions {
  subject?: string;
  issuer?: string;
  undo?: boolean;
  list?: boolean;
  config?: string;
  dataDir?: string;
  url?: string;
  token?: string;
  tokenStdin?: boolean;
  ca?: string;
}

export async function revokeCommand(o: RevokeOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (o.undo && o.list) throw new CliError('pass either --undo or --list, not both');
  if (!o.list && !o.subject) throw new CliError('pass --subject S (or --list)');
  const demo = await demoOf(o);
  const gateway = await gatewayUrl(o, demo);
  const token = await apiToken(o, demo, env, (d) => d.adminIdentity, 'no admin token: set PGWARDEN_TOKEN or pass --token-stdin (with a demo, --data-dir mints one)');

  if (o.list) {
    const body = (await request(gateway, 'GET', undefined, token)) as { revocations: { subject: string; issuer?: string; at: string }[] };
    if (body.revocations.length === 0) process.stdout.write('no revocations\n');
    for (const r of body.revocations) process.stdout.write(`${visible(r.subject)}${r.issuer ? ` (issuer ${visible(r.issuer)})` : ''} since ${visible(r.at)}\n`);
    return;
  }
  const payload = { subject: o.subject, ...(o.issuer ? { issuer: o.issuer } : {}) };
  if (o.undo) {
    await request(gateway, 'DELETE', payload, token);
    process.stdout.write(`revocation of ${visible(o.subject ?? '')} lifted\n`);
    return;
  }
  const body = (await request(gateway, 'POST', payload, token)) as { terminated: number };
  process.stdout.write(`revoked ${visible(o.subject ?? '')}: ${Number(body.terminated)} open sessions terminated\n`);
}

/** The admin API's refusals: 403 is an identity without admin rights. */
const revokeStatus: StatusMessage = (status, _json, detail, hint) => (status === 403 ? `not allowed: ${detail}${hint}` : undefined);

function request(gateway: GatewayTarget, method: string, body: unknown, token: string): Promise<unknown> {
  return apiRequest(`${gateway.base}/admin/revocations`, gateway, method, body, token, revokeStatus);
}
