/**
 * Opening a connection to the real database as the gateway's own role, with the credentials the
 * gateway holds (SCRAM-SHA-256, md5, cleartext or trust), optionally over TLS. The returned socket
 * has finished authentication and stands at the first ReadyForQuery.
 *
 * The upstream password MUST NOT appear in any error message, log line or client-visible text.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.ts';
import {
  AUTH,
  BE,
  MessageFramer,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeFields,
  decodeParameterStatus,
  decodeReadyForQuery,
  encodeCancelRequest,
  encodePassword,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartup,
  type TxStatus,
} from '../protocol/index.ts';
import { ScramSession, md5Password, type ScramKeyCache } from './scram.ts';

export interface UpstreamTarget {
  /** The upstream's key in the configuration (for messages and logs). */
  name: string;
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  tls: { mode: 'disable' | 'require' | 'verify-ca' | 'verify-full'; ca?: string; servername?: string };
  connectTimeoutMs: number;
}

export interface UpstreamConnection {
  socket: net.Socket;
  /** ParameterStatus values the server sent during startup, in order. */
  parameters: Map<string, string>;
  pid: number;
  secret: Buffer;
  txStatus: TxStatus;
  /** Bytes that arrived after the first ReadyForQuery (none in practice). */
  leftover: Buffer | null;
}

/** Parse `postgres://user@host:port/db` (a password in the URL is refused by config validation). */
export function targetFromUrl(name: string, url: string, extra: Omit<UpstreamTarget, 'name' | 'host' | 'port' | 'user' | 'database'>): UpstreamTarget {
  const u = new URL(url);
  const params = u.searchParams;
  return {
    name,
    host: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
    ...extra,
    password: extra.password ?? (u.password ? decodeURIComponent(u.password) : undefined) ?? params.get('password') ?? undefined,
  };
}

function upstreamError(code: 'upstream.unavailable' | 'upstream.auth_failed', target: UpstreamTarget, why: string, cause?: unknown): GatewayError {
  const what = code === 'upstream.auth_failed' ? 'could not sign in to' : 'could not reach';
  return new GatewayError(code, `pgwarden: ${what} upstream "${target.name}"`, { cause: cause ?? new Error(why), detail: undefined });
}

function rawConnect(target: UpstreamTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(upstreamError('upstream.unavailable', target, `connect timeout after ${target.connectTimeoutMs} ms`));
    }, target.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(upstreamError('upstream.unavailable', target, err.message, err));
    });
  });
}

function readByte(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      cleanup();
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      resolve(chunk[0]);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('connection closed during SSL negotiation'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onEnd);
      socket.off('end', onEnd);
      socket.pause();
    };
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('end', onEnd);
  });
}

async function startTls(socket: net.Socket, target: UpstreamTarget): Promise<net.Socket> {
  socket.write(encodeSSLRequest());
  const answer = await readByte(socket);
  if (answer !== 0x53 /* 'S' */) {
    socket.destroy();
    throw upstreamError('upstream.unavailable', target, `server refused TLS (answered '${String.fromCharCode(answer)}') but tls.mode is ${target.tls.mode}`);
  }
  const mode = target.tls.mode;
  let ca: Buffer | undefined;
  try {
    ca = target.tls.ca ? readFileSync(target.tls.ca) : undefined;
  } catch (err) {
    socket.destroy();
    throw upstreamError('upstream.unavailable', target, `TLS: cannot read the CA file ${target.tls.ca} (${(err as Error).message})`, err);
  }
  const options: tls.ConnectionOptions = {
    socket,
    servername: net.isIP(target.host) ? undefined : (target.tls.servername ?? target.host),
    rejectUnauthorized: mode !== 'require',
    ca,
  };
  if (mode === 'verify-ca') options.checkServerIdentity = () => undefined;
  if (mode === 'verify-full' && target.tls.servername) options.servername = target.tls.servername;
  return new Promise((resolve, reject) => {
    const t = tls.connect(options, () => resolve(t));
    t.once('error', (err) => reject(upstreamError('upstream.unavailable', target, `TLS: ${err.message}`, err)));
  });
}

/**
 * Connect, authenticate and wait for ReadyForQuery. `startupParams` are the client's allowed
 * startup parameters (application_name, client_encoding, …); user and database are the upstream's.
 */
export async function connectUpstream(target: UpstreamTarget, startupParams: Record<string, string>, scramCache: ScramKeyCache): Promise<UpstreamConnection> {
  let socket = await rawConnect(target);
  try {
    if (target.tls.mode !== 'disable') socket = await startTls(socket, target);
    return await authenticate(socket, target, startupParams, scramCache);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function authenticate(socket: net.Socket, target: UpstreamTarget, startupParams: Record<string, string>, scramCache: ScramKeyCache): Promise<UpstreamConnection> {
  return new Promise((resolve, reject) => {
    const framer = new MessageFramer(1024 * 1024);
    const parameters = new Map<string, string>();
    let pid = 0;
    let secret: Buffer = Buffer.alloc(0);
    let scram: ScramSession | null = null;
    let settled = false;
    const timer = setTimeout(() => fail(upstreamError('upstream.unavailable', target, `no answer within ${target.connectTimeoutMs} ms`)), target.connectTimeoutMs);

    const fail = (err: GatewayError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
      reject(err);
    };
    const needPassword = (): string => {
      if (target.password === undefined) throw upstreamError('upstream.auth_failed', target, 'the server asked for a password and none is configured');
      return target.password;
    };

    const onFrame = (tag: number, frame: Buffer) => {
      if (settled) return;
      switch (tag) {
        case BE.Authentication: {
          const auth = decodeAuthentication(frame);
          if (auth.code === AUTH.Ok) return;
          if (auth.code === AUTH.CleartextPassword) socket.write(encodePassword(needPassword()));
          else if (auth.code === AUTH.MD5Password && 'salt' in auth) socket.write(encodePassword(md5Password(target.user, needPassword(), auth.salt)));
          else if (auth.code === AUTH.SASL && 'mechanisms' in auth) {
            if (!auth.mechanisms.includes('SCRAM-SHA-256')) throw upstreamError('upstream.auth_failed', target, `no supported SASL mechanism in ${auth.mechanisms.join(', ')}`);
            scram = new ScramSession(needPassword(), scramCache);
            socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
          } else if (auth.code === AUTH.SASLContinue && 'data' in auth && scram) socket.write(encodeSASLResponse(scram.clientFinal(auth.data)));
          else if (auth.code === AUTH.SASLFinal && 'data' in auth && scram) scram.verifyServerFinal(auth.data);
          else throw upstreamError('upstream.auth_failed', target, `unsupported authentication method ${auth.code}`);
          return;
        }
        case BE.ParameterStatus: {
          const p = decodeParameterStatus(frame);
          parameters.set(p.name, p.value);
          return;
        }
        case BE.BackendKeyData: {
          const k = decodeBackendKeyData(frame);
          pid = k.pid;
          secret = k.secret;
          return;
        }
        case BE.ErrorResponse: {
          const f = decodeFields(frame);
          const code = f.C ?? '';
          const kind = code.startsWith('28') ? 'upstream.auth_failed' : 'upstream.unavailable';
          throw upstreamError(kind, target, `server said ${code}: ${f.M ?? ''}`);
        }
        case BE.ReadyForQuery: {
          settled = true;
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('error', onError);
          socket.off('close', onClose);
          socket.pause();
          resolve({ socket, parameters, pid, secret, txStatus: decodeReadyForQuery(frame), leftover: framer.drainRemainder() });
          return;
        }
        default:
          // NoticeResponse, NegotiateProtocolVersion: nothing to do during startup.
          return;
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk, onFrame);
      } catch (err) {
        fail(err instanceof GatewayError ? err : upstreamError('upstream.auth_failed', target, (err as Error).message, err));
      }
    };
    const onError = (err: Error) => fail(upstreamError('upstream.unavailable', target, err.message, err));
    const onClose = () => fail(upstreamError('upstream.unavailable', target, 'the server closed the connection during startup'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(encodeStartup({ ...startupParams, user: target.user, database: target.database }));
    socket.resume();
  });
}

/** Send a CancelRequest for an upstream backend on a fresh connection (fire and forget). */
export async function cancelUpstream(target: UpstreamTarget, pid: number, secret: Buffer): Promise<void> {
  let socket = await rawConnect(target);
  try {
    if (target.tls.mode !== 'disable') socket = await startTls(socket, target);
    await new Promise<void>((resolve) => {
      socket.write(encodeCancelRequest(pid, secret));
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
      socket.end();
      socket.resume();
    });
  } finally {
    socket.destroy();
  }
}
