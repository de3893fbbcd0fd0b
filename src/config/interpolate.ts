/**
 * `${env:NAME}` and `${file:path}` references inside string values, resolved before validation so
 * that the schema checks what the gateway will actually use. `$${` writes a literal `${`.
 *
 * Resolved values are often secrets (database passwords), so errors name the reference — the
 * variable or the file — and never the value.
 */
import { readFileSync, statSync } from 'node:fs';

/** Largest `${file:…}` value: secrets and certificates, not data. */
const MAX_FILE_VALUE = 1024 * 1024;
import { isAbsolute, resolve } from 'node:path';

export interface InterpolationContext {
  env: NodeJS.ProcessEnv;
  /** Directory `${file:…}` paths are relative to: the config file's own directory. */
  baseDir: string;
}

export type InterpolationResult = { ok: true; value: string } | { ok: false; problem: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function interpolate(text: string, ctx: InterpolationContext): InterpolationResult {
  if (!text.includes('${')) return { ok: true, value: text };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('${', i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    if (at > 0 && text[at - 1] === '$') {
      // `$${` is the escape: drop one `$` and keep `${` literally.
      out += text.slice(i, at - 1) + '${';
      i = at + 2;
      continue;
    }
    out += text.slice(i, at);
    const end = text.indexOf('}', at + 2);
    if (end < 0) return { ok: false, problem: 'unterminated "${": write ${env:NAME} or ${file:path}, or $${ for a literal "${"' };
    const ref = text.slice(at + 2, end);
    const resolved = resolveReference(ref, ctx);
    if (!resolved.ok) return resolved;
    out += resolved.value;
    i = end + 1;
  }
  return { ok: true, value: out };
}

function resolveReference(ref: string, ctx: InterpolationContext): InterpolationResult {
  const colon = ref.indexOf(':');
  const kind = colon < 0 ? '' : ref.slice(0, colon);
  const arg = colon < 0 ? '' : ref.slice(colon + 1);
  if (kind === 'env') {
    if (!ENV_NAME.test(arg)) return { ok: false, problem: '${env:…}: not a valid environment variable name (letters, digits and _)' };
    const value = ctx.env[arg];
    if (value === undefined) return { ok: false, problem: `environment variable ${arg} is not set (referenced as \${env:${arg}})` };
    return { ok: true, value };
  }
  if (kind === 'file') {
    if (arg === '') return { ok: false, problem: '${file:}: a file path is required' };
    const path = isAbsolute(arg) ? arg : resolve(ctx.baseDir, arg);
    try {
      // A device, FIFO or directory would hang the load or read without end (/dev/zero, a pipe):
      // only a regular file of reasonable size is a value.
      const st = statSync(path);
      if (!st.isFile()) return { ok: false, problem: `\${file:${arg}} is not a regular file` };
      if (st.size > MAX_FILE_VALUE) return { ok: false, problem: `\${file:${arg}} is larger than ${MAX_FILE_VALUE} bytes` };
      // One trailing newline is what editors and `echo` add; anything else is part of the value.
      return { ok: true, value: readFileSync(path, 'utf8').replace(/\r?\n$/, '') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      return { ok: false, problem: `cannot read \${file:${arg}} (${code})` };
    }
  }
  // The text is not echoed: a literal value that happens to contain `${` may be a secret.
  return { ok: false, problem: 'unknown reference: write ${env:NAME} or ${file:path}, or $${ for a literal "${"' };
}
