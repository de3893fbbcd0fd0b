/**
 * `pgwarden revoke`: revoke a subject (ending its open sessions), lift a revocation (`--undo`), or
 * list them (`--list`), through the gateway's admin API.
 *
 * Where: `--url`, else the config's `listen.http`, else the demo's `demo.json`. Credentials:
 * `--token`, else `PGWARDEN_TOKEN`, else (with `--data-dir` of a demo) a short-lived token minted
 * for the demo's admin identity.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, hostOf, loadConfigFile } from '../config/index.ts';
import { CliError, configPath, mintDemoToken, readDemoInfo, type DemoInfo } from './common.ts';

export interface RevokeOptions {
  subject?: string;
  issuer?: string;
  undo?: boolean;
  list?: boolean;
  config?: string;
  dataDir?: string;
  url?: string;
  token?: string;
}

export async function revokeCommand(o: RevokeOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (o.undo && o.list) throw new CliError('pass either --undo or --list, not both');
  if (!o.list && !o.subject) throw new CliError('pass --subject S (or --list)');
  const demo = o.dataDir !== undefined && existsSync(join(o.dataDir, 'demo.json')) ? await readDemoInfo(o.dataDir) : undefined;
  const base = await adminUrl(o, demo);
  const token = await adminToken(o, demo, env);

  if (o.list) {
    const body = (await request(base, 'GET', undefined, token)) as { revocations: { subject: string; issuer?: string; at: string }[] };
    if (body.revocations.length === 0) process.stdout.write('no revocations\n');
    for (const r of body.revocations) process.stdout.write(`${r.subject}${r.issuer ? ` (issuer ${r.issuer})` : ''} since ${r.at}\n`);
    return;
  }
  const payload = { subject: o.subject, ...(o.issuer ? { issuer: o.issuer } : {}) };
  if (o.undo) {
    await request(base, 'DELETE', payload, token);
    process.stdout.write(`revocation of ${o.subject} lifted\n`);
    return;
  }
  const body = (await request(base, 'POST', payload, token)) as { terminated: number };
  process.stdout.write(`revoked ${o.subject}: ${body.terminated} open sessions terminated\n`);
}

async function adminUrl(o: RevokeOptions, demo: DemoInfo | undefined): Promise<string> {
  if (o.url) return o.url.replace(/\/+$/, '');
  const path = o.config !== undefined || o.dataDir !== undefined ? configPath(o) : undefined;
  if (path !== undefined && (o.config !== undefined || existsSync(path))) {
    try {
      const config = await loadConfigFile(path);
      return `http://${connectable(config.listen.http)}`;
    } catch (err) {
      // A demo's own file may need variables this shell lacks; its demo.json still says where it is.
      if (!(err instanceof ConfigError) || o.config !== undefined || !demo) throw err;
    }
  }
  if (demo) return `http://${urlHost(demo.http.host)}:${demo.http.port}`;
  throw new CliError('where is the gateway? pass --url http://host:port, --config FILE or --data-dir DIR');
}

async function adminToken(o: RevokeOptions, demo: DemoInfo | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (o.token) return o.token;
  if (env.PGWARDEN_TOKEN) return env.PGWARDEN_TOKEN;
  if (demo && o.dataDir !== undefined) return mintDemoToken(o.dataDir, demo, demo.adminIdentity, 300);
  throw new CliError('no admin token: pass --token T or set PGWARDEN_TOKEN (with a demo, --data-dir mints one)');
}

/** A listen address as something to connect to: a wildcard bind is reached on loopback. */
function connectable(listen: string): string {
  const host = hostOf(listen) ?? '127.0.0.1';
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  const to = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${urlHost(to)}:${port}`;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function request(base: string, method: string, body: unknown, token: string): Promise<unknown> {
  const url = `${base}/admin/revocations`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new CliError(`cannot reach the gateway at ${base} (${why}): is it running, and is that its HTTP address?`);
  }
  const text = await res.text();
  let json: { error?: string; message?: string; hint?: string } & Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // Not one of ours (a proxy in between?): report the status alone.
  }
  if (res.ok) return json;
  const detail = json.message ?? `HTTP ${res.status}`;
  const hint = json.hint ? ` (${json.hint})` : '';
  if (res.status === 401) throw new CliError(`the gateway rejected the token: ${detail}${hint}`);
  if (res.status === 403) throw new CliError(`not allowed: ${detail}${hint}`);
  throw new CliError(`the gateway answered ${res.status}: ${detail}${hint}`);
}
