/**
 * Builders for the masking tests: identities, scopes from config as written, RowDescription
 * fields, DataRow and CopyData frames built by hand (not by the code under test).
 */
import type { Identity } from '../identity/types.ts';
import type { FieldDescription } from '../protocol/index.ts';
import type { OutputColumn, SourceColumn } from '../sql/types.ts';
import { compileMasking, maskingFor } from './compile.ts';
import { maskingSchema, type MaskingInput } from './schema.ts';
import type { MaskingScope } from './types.ts';

export const KEY = 'test-mask-key-0123456789abcdef';

export function identity(subject: string, groups: string[] = []): Identity {
  return { issuer: 'https://idp.test', issuerName: 'test', subject, groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

export function scopeOf(config: MaskingInput | MaskingInput['rules'], who: Identity = identity('analyst', ['analysts'])): MaskingScope {
  return maskingFor(compileMasking(maskingSchema.parse(config) as never), who);
}

export function field(name: string, typeOid: number, opts: Partial<FieldDescription> = {}): FieldDescription {
  return { name, tableOid: 0, attnum: 0, typeOid, typeSize: -1, typeMod: -1, format: 0, ...opts };
}

/** `public.customers.email` → SourceColumn. */
export function src(q: string): SourceColumn {
  const [schema, table, column] = q.split('.');
  return { schema, table, column };
}

export function out(name: string, derivation: OutputColumn['derivation'], ...sources: string[]): OutputColumn {
  return { name, derivation, sources: sources.map(src) };
}

/** A DataRow frame; `null` cells are SQL NULL, strings are UTF-8. */
export function dataRow(cells: (string | Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of cells) {
    const len = Buffer.alloc(4);
    if (c === null) {
      len.writeInt32BE(-1);
      parts.push(len);
    } else {
      const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      len.writeInt32BE(b.length);
      parts.push(len, b);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head[0] = 0x44;
  head.writeInt32BE(6 + body.length, 1);
  head.writeUInt16BE(cells.length, 5);
  return Buffer.concat([head, body]);
}

/** The cells of a DataRow frame, checking its length word. */
export function cellsOf(frame: Buffer): (Buffer | null)[] {
  if (frame[0] !== 0x44 || frame.readInt32BE(1) !== frame.length - 1) throw new Error('bad DataRow framing');
  const n = frame.readUInt16BE(5);
  const out: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(pos);
    pos += 4;
    if (len < 0) out.push(null);
    else {
      out.push(frame.subarray(pos, pos + len));
      pos += len;
    }
  }
  if (pos !== frame.length) throw new Error('trailing bytes in DataRow');
  return out;
}

export function copyData(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const head = Buffer.alloc(5);
  head[0] = 0x64;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** The body of a CopyData frame (empty for the empty "send nothing" buffer). */
export function copyBody(frame: Buffer): string {
  if (frame.length === 0) return '';
  if (frame[0] !== 0x64 || frame.readInt32BE(1) !== frame.length - 1) throw new Error('bad CopyData framing');
  return frame.subarray(5).toString('utf8');
}
