/**
 * Talking to a running gateway's HTTP API from the command line (`revoke`, `reviews`): where it
 * is, which token to send, and one request with clear errors.
 *
 * Where: `--url`, else the config's `listen.http`, else the demo's `demo.json`. Credentials:
 * `--token-stdin` (the token on standard input), else `PGWARDEN_TOKEN`, else (with `--data-dir`
 * of a demo) a short-lived token minted for one of the demo's identities. A token is never taken
 * from the command line, where every local user can read it (`ps`, shell history).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, hostOf, loadConfigFile } from '../config/index.ts';
import { CliError, configPath, mintDemoToken, readDemoInfo, type DemoInfo } from './common.ts';

export interface GatewayApiOptions {
  config?: string;
  dataDir?: string;
  url?: string;
  /** Refused when given: see TOKEN_ON_COMMAND_LINE. */
  token?: string;
  tokenStdin?: boolean;
}

export const TOKEN_ON_COMMAND_LINE =
  'a token on the command line is readable by every local user (ps, shell history): set PGWARDEN_TOKEN, or pass --token-stdin and write the token to standard input';

/** The demo's description, when `--data-dir` names a demo's data directory. */
export async function demoOf(o: GatewayApiOptions): Promise<DemoInfo | undefined> {
  return o.dataDir !== undefined && existsSync(join(o.dataDir, 'demo.json')) ? readDemoInfo(o.dataDir) : undefined;
}

/** The gateway's HTTP base URL. */
export async function gatewayUrl(o: GatewayApiOptions, demo: DemoInfo | undefined): Promise<string> {
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

/** The token to send: `--token`, `PGWARDEN_TOKEN`, or one minted for `who` of a demo. */
export async function apiToken(
  o: GatewayApiOptions,
  demo: DemoInfo | undefined,
  env: NodeJS.ProcessEnv,
  who: ((d: DemoInfo) => { subject: string; groups: string[] }) | undefined,
  missing: string,
): Promise<string> {
  if (o.token !== undefined) throw new CliError(TOKEN_ON_COMMAND_LINE);
  if (o.tokenStdin) {
    const token = (await readStdin()).trim();
    if (!token) throw new CliError('--token-stdin: standard input held no token');
    return token;
  }
  if (env.PGWARDEN_TOKEN) return env.PGWARDEN_TOKEN;
  if (demo && who && o.dataDir !== undefined) return mintDemoToken(o.dataDir, demo, who(demo), 300);
  throw new CliError(missing);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (chunks.reduce((n, c) => n + c.length, 0) > 64 * 1024) throw new CliError('--token-stdin: standard input is too long for a token');
  }
  return Buffer.concat(chunks).toString('utf8');
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

/** What a command says of an error status (undefined: the generic "the gateway answered …"). */
export type StatusMessage = (status: number, json: { error?: string }, detail: string, hint: string) => string | undefined;

/** One JSON request; a failure becomes a CliError saying what went wrong. */
export async function apiRequest(url: string, base: string, method: string, body: unknown, token: string, statusMessage?: StatusMessage): Promise<unknown> {
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
  const said = statusMessage?.(res.status, json, detail, hint);
  if (said !== undefined) throw new CliError(said);
  throw new CliError(`the gateway answered ${res.status}: ${detail}${hint}`);
}
