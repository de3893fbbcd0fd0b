/**
 * Backend (server → client) messages: encode what the gateway itself says to clients, and decode
 * the few server messages the gateway must understand (authentication, errors, parameter status,
 * key data, ready-for-query, row descriptions, command tags).
 */
import { AUTH, BE, FIELD, type TxStatus } from './constants.ts';
import { ProtocolError, Reader } from './reader.ts';
import { Writer } from './writer.ts';

// ---- Encoders: the gateway as a server -------------------------------------------------------

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: number;
}

function encodeFields(tag: number, f: ErrorFields): Buffer {
  const w = new Writer(128).message(tag);
  w.byte(FIELD.Severity).cstring(f.severity);
  w.byte(FIELD.SeverityV).cstring(f.severity);
  w.byte(FIELD.Code).cstring(f.code);
  w.byte(FIELD.Message).cstring(f.message);
  if (f.detail) w.byte(FIELD.Detail).cstring(f.detail);
  if (f.hint) w.byte(FIELD.Hint).cstring(f.hint);
  if (f.position !== undefined) w.byte(FIELD.Position).cstring(String(f.position));
  return w.byte(0).end();
}

export function encodeErrorResponse(f: ErrorFields): Buffer {
  return encodeFields(BE.ErrorResponse, f);
}

export function encodeNoticeResponse(f: ErrorFields): Buffer {
  return encodeFields(BE.NoticeResponse, f);
}

export function encodeAuthentication(code: number, extra?: Buffer): Buffer {
  const w = new Writer(16).message(BE.Authentication).int32(code);
  if (extra) w.bytes(extra);
  return w.end();
}

export const AUTH_OK = encodeAuthentication(AUTH.Ok);
export const AUTH_CLEARTEXT = encodeAuthentication(AUTH.CleartextPassword);

export function encodeParameterStatus(name: string, value: string): Buffer {
  return new Writer(64).message(BE.ParameterStatus).cstring(name).cstring(value).end();
}

export function encodeBackendKeyData(pid: number, secret: Buffer): Buffer {
  return new Writer(16).message(BE.BackendKeyData).int32(pid).bytes(secret).end();
}

export function encodeReadyForQuery(status: TxStatus): Buffer {
  return new Writer(8).message(BE.ReadyForQuery).byte(status.charCodeAt(0)).end();
}

export function encodeNegotiateProtocolVersion(minor: number, unrecognized: string[]): Buffer {
  const w = new Writer(64).message(BE.NegotiateProtocolVersion).int32((3 << 16) | minor).int32(unrecognized.length);
  for (const o of unrecognized) w.cstring(o);
  return w.end();
}

export function encodeCommandComplete(tag: string): Buffer {
  return new Writer(32).message(BE.CommandComplete).cstring(tag).end();
}

// ---- Decoders: the gateway as a client of the upstream ---------------------------------------

export type AuthenticationMessage =
  | { code: typeof AUTH.Ok }
  | { code: typeof AUTH.CleartextPassword }
  | { code: typeof AUTH.MD5Password; salt: Buffer }
  | { code: typeof AUTH.SASL; mechanisms: string[] }
  | { code: typeof AUTH.SASLContinue | typeof AUTH.SASLFinal; data: Buffer }
  | { code: number };

export function decodeAuthentication(frame: Buffer): AuthenticationMessage {
  const r = new Reader(frame, 5);
  const code = r.int32();
  switch (code) {
    case AUTH.MD5Password:
      return { code, salt: Buffer.from(r.bytes(4)) };
    case AUTH.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring();
        if (m === '') break;
        mechanisms.push(m);
      }
      return { code, mechanisms };
    }
    case AUTH.SASLContinue:
    case AUTH.SASLFinal:
      return { code, data: Buffer.from(r.rest()) };
    default:
      return { code };
  }
}

/** All fields of an ErrorResponse or NoticeResponse, keyed by their field byte as a letter. */
export type FieldMap = Record<string, string>;

export function decodeFields(frame: Buffer): FieldMap {
  const r = new Reader(frame, 5);
  const out: FieldMap = {};
  for (;;) {
    const t = r.byte();
    if (t === 0) break;
    out[String.fromCharCode(t)] = r.cstring();
  }
  return out;
}

/** A DataRow's cells as UTF-8 text (for results requested in text format). */
export function decodeDataRow(frame: Buffer): (string | null)[] {
  const r = new Reader(frame, 5);
  const n = r.count16(4, 'cell');
  const out = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    if (len < 0) {
      out[i] = null;
      continue;
    }
    if (len > r.remaining) throw new ProtocolError('DataRow cell longer than its message');
    out[i] = frame.toString('utf8', r.pos, r.pos + len);
    r.pos += len;
  }
  return out;
}

/** Re-encode a field map (used to rewrite a server error's fields, e.g. scrub a DETAIL). */
export function encodeFieldMap(tag: number, fields: FieldMap): Buffer {
  const w = new Writer(128).message(tag);
  for (const [k, v] of Object.entries(fields)) w.byte(k.charCodeAt(0)).cstring(v);
  return w.byte(0).end();
}

export function decodeParameterStatus(frame: Buffer): { name: string; value: string } {
  const r = new Reader(frame, 5);
  return { name: r.cstring(), value: r.cstring() };
}

export function decodeBackendKeyData(frame: Buffer): { pid: number; secret: Buffer } {
  const r = new Reader(frame, 5);
  const pid = r.int32();
  return { pid, secret: Buffer.from(r.rest()) };
}

export function decodeReadyForQuery(frame: Buffer): TxStatus {
  if (frame.length !== 6) throw new ProtocolError('invalid ReadyForQuery length');
  const s = String.fromCharCode(frame[5]);
  if (s !== 'I' && s !== 'T' && s !== 'E') throw new ProtocolError(`invalid transaction status '${s}'`);
  return s;
}

export function decodeCommandComplete(frame: Buffer): string {
  return new Reader(frame, 5).cstring();
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: number;
}

export function decodeRowDescription(frame: Buffer): FieldDescription[] {
  const r = new Reader(frame, 5);
  const n = r.count16(19, 'field');
  const fields = new Array<FieldDescription>(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstring(),
      tableOid: r.uint32(),
      attnum: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeMod: r.int32(),
      format: r.int16(),
    };
  }
  r.done('RowDescription');
  return fields;
}
