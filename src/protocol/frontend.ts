/**
 * Frontend (client → server) messages: decode what the gateway receives from clients and encode
 * what it sends to the upstream as a client. Decoders take a whole frame (tag + length + body, as
 * the framer delivers it) and throw ProtocolError when it is malformed.
 */
import { CANCEL_REQUEST_CODE, FE, GSSENC_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE } from './constants.ts';
import { ProtocolError, Reader } from './reader.ts';
import { Writer } from './writer.ts';

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

/** Decode an untagged startup-phase packet (length prefix included). */
export function decodeStartupPacket(packet: Buffer): StartupPacket {
  const r = new Reader(packet, 4);
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) return { kind: 'ssl' };
  if (code === GSSENC_REQUEST_CODE) return { kind: 'gssenc' };
  if (code === CANCEL_REQUEST_CODE) {
    const pid = r.int32();
    // Protocol 3.0 keys are 4 bytes; 3.2 allows up to 256.
    const secret = Buffer.from(r.rest());
    if (secret.length < 4 || secret.length > 256) throw new ProtocolError('invalid cancel key length');
    return { kind: 'cancel', pid, secret };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: the gateway supports 3.0`);
  const params = new Map<string, string>();
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    const value = r.cstring();
    if (params.has(key)) throw new ProtocolError(`duplicate startup parameter "${key}"`);
    params.set(key, value);
  }
  r.done('startup packet');
  if (!params.has('user')) throw new ProtocolError('no PostgreSQL user name specified in startup packet');
  return { kind: 'startup', major, minor, params };
}

export interface ParseMessage {
  name: string;
  text: string;
  paramTypes: number[];
}

export function decodeParse(frame: Buffer): ParseMessage {
  const r = new Reader(frame, 5);
  const name = r.cstring();
  const text = r.cstring();
  const n = r.count16(4, 'parameter type');
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
  r.done('Parse');
  return { name, text, paramTypes };
}

export function decodeQuery(frame: Buffer): string {
  const r = new Reader(frame, 5);
  const text = r.cstring();
  r.done('Query');
  return text;
}

export interface BindMessage {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** Parameter values as views into the frame; null is SQL NULL. */
  params: (Buffer | null)[];
  resultFormats: number[];
}

export function decodeBind(frame: Buffer): BindMessage {
  const r = new Reader(frame, 5);
  const portal = r.cstring();
  const statement = r.cstring();
  const nf = r.count16(2, 'parameter format');
  const paramFormats = new Array<number>(nf);
  for (let i = 0; i < nf; i++) paramFormats[i] = r.int16();
  const np = r.count16(4, 'parameter');
  const params = new Array<Buffer | null>(np);
  for (let i = 0; i < np; i++) {
    const len = r.int32();
    if (len === -1) params[i] = null;
    else if (len < 0) throw new ProtocolError(`invalid parameter length ${len}`);
    else params[i] = r.bytes(len);
  }
  const nr = r.count16(2, 'result format');
  const resultFormats = new Array<number>(nr);
  for (let i = 0; i < nr; i++) resultFormats[i] = r.int16();
  r.done('Bind');
  return { portal, statement, paramFormats, params, resultFormats };
}

/** Describe and Close share a shape: 'S' (statement) or 'P' (portal) and a name. */
export interface TargetMessage {
  target: 'S' | 'P';
  name: string;
}

export function decodeTarget(frame: Buffer, what: string): TargetMessage {
  const r = new Reader(frame, 5);
  const t = r.byte();
  if (t !== 0x53 && t !== 0x50) throw new ProtocolError(`invalid ${what} target '${String.fromCharCode(t)}'`);
  const name = r.cstring();
  r.done(what);
  return { target: t === 0x53 ? 'S' : 'P', name };
}

export interface ExecuteMessage {
  portal: string;
  maxRows: number;
}

export function decodeExecute(frame: Buffer): ExecuteMessage {
  const r = new Reader(frame, 5);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.done('Execute');
  return { portal, maxRows };
}

/** The cleartext password (here: the token) of a PasswordMessage. */
export function decodePassword(frame: Buffer): string {
  const r = new Reader(frame, 5);
  const pw = r.cstring();
  r.done('PasswordMessage');
  return pw;
}

// ---- Encoders: the gateway as a client of the upstream -------------------------------------

export function encodeStartup(params: Record<string, string>): Buffer {
  const w = new Writer(128).untagged().int32(PROTOCOL_3_0);
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
  return w.byte(0).end();
}

export function encodeSSLRequest(): Buffer {
  return new Writer(8).untagged().int32(SSL_REQUEST_CODE).end();
}

export function encodeCancelRequest(pid: number, secret: Buffer): Buffer {
  return new Writer(16).untagged().int32(CANCEL_REQUEST_CODE).int32(pid).bytes(secret).end();
}

export function encodePassword(password: string): Buffer {
  return new Writer(64).message(FE.Password).cstring(password).end();
}

export function encodeSASLInitialResponse(mechanism: string, data: Buffer): Buffer {
  return new Writer(128).message(FE.Password).cstring(mechanism).int32(data.length).bytes(data).end();
}

export function encodeSASLResponse(data: Buffer): Buffer {
  return new Writer(128).message(FE.Password).bytes(data).end();
}

export function encodeQuery(text: string): Buffer {
  return new Writer(64 + text.length).message(FE.Query).cstring(text).end();
}

export function encodeParse(name: string, text: string, paramTypes: number[] = []): Buffer {
  const w = new Writer(64 + text.length).message(FE.Parse).cstring(name).cstring(text).int16(paramTypes.length);
  for (const t of paramTypes) w.uint32(t);
  return w.end();
}

export function encodeBind(portal: string, statement: string, params: (Buffer | string | null)[], resultFormats: number[] = []): Buffer {
  const w = new Writer(64).message(FE.Bind).cstring(portal).cstring(statement).int16(0).int16(params.length);
  for (const p of params) {
    if (p === null) w.int32(-1);
    else {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      w.int32(b.length).bytes(b);
    }
  }
  w.int16(resultFormats.length);
  for (const f of resultFormats) w.int16(f);
  return w.end();
}

export function encodeDescribe(target: 'S' | 'P', name: string): Buffer {
  return new Writer(32).message(FE.Describe).byte(target.charCodeAt(0)).cstring(name).end();
}

export function encodeClose(target: 'S' | 'P', name: string): Buffer {
  return new Writer(32).message(FE.Close).byte(target.charCodeAt(0)).cstring(name).end();
}

export function encodeExecute(portal: string, maxRows = 0): Buffer {
  return new Writer(32).message(FE.Execute).cstring(portal).int32(maxRows).end();
}

export const SYNC = Buffer.from([FE.Sync, 0, 0, 0, 4]);
export const FLUSH = Buffer.from([FE.Flush, 0, 0, 0, 4]);
export const TERMINATE = Buffer.from([FE.Terminate, 0, 0, 0, 4]);
