/**
 * Signed cookie values: `<base64url JSON>.<base64url HMAC-SHA256>`, the MAC over a purpose label
 * and the payload, so a value signed for one purpose (the sign-in state) is never accepted for
 * another (the session). Every payload carries `exp` (epoch seconds) and is refused after it.
 *
 * The values are signed, not encrypted: they MUST NOT hold secrets a browser may not see (the
 * PKCE verifier is fine: it is only useful together with the code the browser also carries).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type CookiePurpose = 'session' | 'signin';

/** Browsers keep cookies up to about 4 KB; a larger value would silently not be stored. */
const MAX_VALUE = 3800;

export function sign<T extends { exp: number }>(secret: string, purpose: CookiePurpose, payload: T): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const value = `${body}.${mac(secret, purpose, body)}`;
  if (value.length > MAX_VALUE) throw new Error(`console ${purpose} cookie too large (${value.length} bytes)`);
  return value;
}

/** The payload, or null when the value is malformed, was signed with another key or purpose, or has expired. */
export function verify<T extends { exp: number }>(secret: string, purpose: CookiePurpose, value: string | undefined, now = Date.now()): T | null {
  if (!value || value.length > MAX_VALUE) return null;
  const dot = value.indexOf('.');
  if (dot <= 0 || dot !== value.lastIndexOf('.')) return null;
  const body = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), 'base64url');
  const expected = Buffer.from(mac(secret, purpose, body), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (payload === null || typeof payload !== 'object') return null;
  const exp = (payload as { exp?: unknown }).exp;
  if (typeof exp !== 'number' || exp * 1000 <= now) return null;
  return payload as T;
}

function mac(secret: string, purpose: CookiePurpose, body: string): string {
  return createHmac('sha256', secret).update(`pgwarden-console/${purpose}\n`).update(body).digest('base64url');
}
