/**
 * Talking to a running gateway's HTTP API from the command line (`revoke`, `reviews`): where it
 * is, which token to send, and one request with clear errors.
 *
 * Where: `--url`, else the config's `listen.http`, else the demo's `demo.json`. Credentials:
 * `--token-stdin` (the token on standard input), else `PGWARDEN_TOKEN`, else (with `--data-dir`
 * of a demo) a short-lived token minted for one of the demo's identities. A token is never taken
 * from the command line, where every local user can read it (`ps`, shell history).
 *
 * A token MUST NOT travel in clear text off the machine: with `listen.http_tls` the address is
 * `https://`, and the certificate is verified against the system's CAs, `--ca FILE` and the
 * listener's own certificate (the CLI runs beside the config, so it can read it; that exact
 * certificate is accepted whatever names it holds, since the listen address is often an IP);
 * a plain `http://` address that is not loopback is refused before anything is sent.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates, checkServerIdentity, type PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { ConfigError, hostOf, isLoopback, loadConfigFile } from '../config/index.ts';
import { CliError, configPath, mintDemoToken, readDemoInfo, type DemoInfo } from './common.ts';

export interface GatewayApiOptions {
  config?: string;
  dataDir?: string;
  url?: string;
  /** Refused when given: see TOKEN_ON_COMMAND_LINE. */
  token?: string;
  tokenStdin?: boolean;
  /** A CA certificate file (PEM) to trust for an https gateway, besides the system's. */
  ca?: string;
}

/** Where the gateway's HTTP API is, and what its certificate is checked against. */
export interface GatewayTarget {
  base: string;
  /** Trusted CA certificates (PEM) for https: the system's and any given; undefined: the system's. */
  ca?: string[];
  /** The SHA-256 fingerprint of a certificate accepted as it is (the listener's own). */
  pinned?: string;
}

export const TOKEN_ON_COMMAND_LINE =
  'a token on the command line is readable by every local user (ps, shell history): set PGWARDEN_TOKEN, or pass --token-stdin and write the token to standard input';

/** The demo's description, when `--data-dir` names a demo's data directory. */
export async function demoOf(o: GatewayApiOptions): Promise<DemoInfo | undefined> {
  return o.dataDir !== undefined && existsSync(join(o.dataDir, 'demo.json')) ? readDemoInfo(o.dataDir) : undefined;
}

/** The gateway's HTTP base URL, and how its certificate is checked. */
export async function gatewayUrl(o: GatewayApiOptions, demo: DemoInfo | undefined): Promise<GatewayTarget> {
  const extraCa = o.ca === undefined ? [] : [readPem(o.ca, '--ca')];
  const withCa = (base: string, ca: string[] = extraCa, pinned?: string): GatewayTarget => ({ base, ...(ca.length ? { ca: [...rootCertificates, ...ca] } : {}), ...(pinned ? { pinned } : {}) });
  if (o.url) return withCa(o.url.replace(/\/+$/, ''));
  const path = o.config !== undefined || o.dataDir !== undefined ? configPath(o) : undefined;
  if (path !== undefined && (o.config !== undefined || existsSync(path))) {
    try {
      const config = await loadConfigFile(path);
      const tls = config.listen.http_tls;
      if (tls) {
        const own = readPem(tls.cert, 'listen.http_tls.cert');
        return withCa(`https://${connectable(config.listen.http)}`, [...extraCa, own], new X509Certificate(own).fingerprint256);
      }
      // No TLS here, but a TLS proxy in front: the token goes through it.
      const publicUrl = config.console?.public_url;
      if (publicUrl?.startsWith('https://') && !isLoopback(hostOf(connectable(config.listen.http)) ?? '')) return withCa(new URL(publicUrl).origin);
      return withCa(`http://${connectable(config.listen.http)}`);
    } catch (err) {
      // A demo's own file may need variables this shell lacks; its demo.json still says where it is.
      if (!(err instanceof ConfigError) || o.config !== undefined || !demo) throw err;
    }
  }
  if (demo) return withCa(`http://${urlHost(demo.http.host)}:${demo.http.port}`);
  throw new CliError('where is the gateway? pass --url http://host:port, --config FILE or --data-dir DIR');
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
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

/**
 * One JSON request; a failure becomes a CliError saying what went wrong. The token is sent only
 * over https or to a loopback address.
 */
export async function apiRequest(url: string, gateway: GatewayTarget, method: string, body: unknown, token: string, statusMessage?: StatusMessage): Promise<unknown> {
  const base = gateway.base;
  const target = new URL(url);
  if (target.protocol !== 'https:' && !isLoopback(target.hostname.replace(/^\[|\]$/g, ''))) {
    throw new CliError(`refusing to send a token in clear text to ${target.host}: use an https:// address (the gateway's listen.http_tls, or a TLS proxy in front of it)`);
  }
  let res: { status: number; ok: boolean; text(): Promise<string> };
  try {
    res = await send(target, gateway, method, { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, body === undefined ? undefined : JSON.stringify(body));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { cause?: { code?: string; message?: string } };
    const why = e.code ?? e.cause?.code ?? e.cause?.message ?? e.message;
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

/** How long one request to the gateway may take in all, from connecting to the last byte of the answer. */
const REQUEST_DEADLINE_MS = 15_000;

/** One request over node:http(s), so that an https gateway's certificate is checked as GatewayTarget says. */
function send(url: URL, gateway: GatewayTarget, method: string, headers: Record<string, string>, body: string | undefined): Promise<{ status: number; ok: boolean; text(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method,
      headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
      timeout: 10_000,
    };
    if (url.protocol === 'https:') {
      if (gateway.ca) options.ca = gateway.ca;
      const pinned = gateway.pinned;
      // The listener's own certificate is accepted whatever names it holds; any other is checked
      // against the host name as usual.
      if (pinned) options.checkServerIdentity = (host: string, cert: PeerCertificate) => (cert.fingerprint256 === pinned ? undefined : checkServerIdentity(host, cert));
    }
    const timedOut = () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    // The socket's idle timeout does not cover a TLS handshake the listener never answers: the
    // whole request has a deadline of its own.
    const deadline = setTimeout(timedOut, REQUEST_DEADLINE_MS);
    const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(deadline);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(deadline);
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: async () => Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('timeout', timedOut);
    req.on('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end(body);
  });
}
