/**
 * An MCP stdio server that forwards every JSON-RPC message to pgwarden's HTTP endpoint, for MCP
 * clients that only launch local processes.
 *
 * stdin ─► StdioServerTransport ─► StreamableHTTPClientTransport (Authorization: Bearer <token>)
 *       ◄─ responses, notifications and server requests ◄─
 *
 * The token comes from `--token` or from running `--token-command` (a workload identity helper,
 * `gcloud auth print-identity-token`, …). The command runs again before the token expires (by its
 * `exp`) and whenever the endpoint answers 401, and the request is retried once with the new
 * token; the MCP session survives, since it is bound to the identity, not to one token.
 *
 * stdout carries only protocol messages; diagnostics go to stderr and never include the token.
 */
import { exec } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { decodeJwt } from 'jose';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface StdioBridgeOptions {
  /** The gateway's MCP endpoint, e.g. http://127.0.0.1:8080/mcp. */
  url: string;
  /** A fixed token. */
  token?: string;
  /** A shell command that prints a token on stdout. */
  tokenCommand?: string;
  /** Run the command again this long before the token's `exp` (ms, default 60 s). */
  refreshBeforeMs?: number;
  stdin?: Readable;
  stdout?: Writable;
  /** One line of diagnostics (default: stderr). */
  log?: (line: string) => void;
}

const COMMAND_TIMEOUT_MS = 30_000;

class TokenSource {
  private token: string | undefined;
  private expiresAt: number | undefined;
  private pending: Promise<string> | null = null;

  constructor(
    private readonly o: StdioBridgeOptions,
    private readonly log: (line: string) => void,
  ) {
    this.token = o.token;
    if (o.token) this.expiresAt = expiryOf(o.token);
  }

  get refreshable(): boolean {
    return this.o.tokenCommand !== undefined;
  }

  async get(): Promise<string> {
    const soon = this.expiresAt !== undefined && this.expiresAt - Date.now() < (this.o.refreshBeforeMs ?? 60_000);
    if (this.token !== undefined && !(soon && this.refreshable)) return this.token;
    return this.refresh();
  }

  /** Run the command again (once, however many requests ask at the same time). */
  refresh(): Promise<string> {
    if (!this.refreshable) {
      if (this.token === undefined) return Promise.reject(new Error('no token: pass --token or --token-command'));
      return Promise.resolve(this.token);
    }
    this.pending ??= runCommand(this.o.tokenCommand!)
      .then((t) => {
        this.token = t;
        this.expiresAt = expiryOf(t);
        this.log('pgwarden mcp-stdio: token refreshed');
        return t;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }
}

function expiryOf(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function runCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    exec(command, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      // The command's own output is not repeated: it may contain the token.
      if (err) return reject(new Error(`the token command failed (${err.code ?? err.signal ?? 'error'})`));
      const token = stdout.trim();
      if (!token) return reject(new Error('the token command printed nothing'));
      resolve(token);
    });
  });
}

/** Serve until stdin ends or the endpoint goes away; resolves when the bridge has closed. */
export async function runStdioBridge(o: StdioBridgeOptions): Promise<void> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tokens = new TokenSource(o, log);
  // Fail before serving when no token can be had at all.
  await tokens.get();

  const authedFetch = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const send = (token: string) => {
      const headers = new Headers(init?.headers);
      headers.set('Authorization', `Bearer ${token}`);
      return fetch(url, { ...init, headers });
    };
    let res = await send(await tokens.get());
    if (res.status === 401 && tokens.refreshable) {
      await res.body?.cancel();
      res = await send(await tokens.refresh());
    }
    return res;
  };

  const upstream = new StreamableHTTPClientTransport(new URL(o.url), { fetch: authedFetch });
  const local = new StdioServerTransport(o.stdin, o.stdout);
  const initializing = new Set<string | number>();
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    // Ends the MCP session on the gateway (DELETE) rather than leaving it to the idle timeout.
    await upstream.terminateSession().catch(() => {});
    await upstream.close().catch(() => {});
    await local.close().catch(() => {});
    closed();
  };

  local.onmessage = (message: JSONRPCMessage) => {
    const request = 'method' in message && 'id' in message ? message : undefined;
    if (request?.method === 'initialize') initializing.add(request.id);
    upstream.send(message).catch((err: unknown) => {
      const text = err instanceof Error ? err.message : String(err);
      log(`pgwarden mcp-stdio: forwarding failed: ${text}`);
      if (request) void local.send({ jsonrpc: '2.0', id: request.id, error: { code: -32000, message: `pgwarden mcp-stdio: ${text}` } }).catch(() => {});
    });
  };
  upstream.onmessage = (message: JSONRPCMessage) => {
    if ('id' in message && 'result' in message && initializing.delete(message.id)) {
      const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') upstream.setProtocolVersion(version);
    }
    void local.send(message).catch(() => {});
  };
  upstream.onerror = (err) => log(`pgwarden mcp-stdio: ${err.message}`);
  local.onerror = (err) => log(`pgwarden mcp-stdio: ${err.message}`);
  local.onclose = () => void shutdown();
  (o.stdin ?? process.stdin).once('end', () => void shutdown());

  await upstream.start();
  await local.start();
  return done;
}
