/**
 * A value the client chose at startup (`user`, `database`, an option), as an error message or
 * the log may quote it.
 *
 * Clients put their token in the wrong field often enough (the user name instead of the
 * password, a whole connection string in the database name), and a FATAL message is written to
 * the client's own logs and the refusal to the gateway's log, which more people read than hold
 * the token. A value that looks like a JWT (three base64url segments) or holds one, or is longer
 * than any name a client means, MUST NOT be quoted whole: its first characters and its length
 * are enough to recognise it.
 */

/** A JWT (or a JWS/JWE part of one): three base64url runs joined by dots, anywhere in the value. */
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}/;
/** PostgreSQL's NAMEDATALEN is 64: a longer user or database name is not one the client means. */
const LONGEST_SHOWN = 63;
const SHOWN_PREFIX = 4;

/** Whether `value` holds something that looks like a token. */
export function looksLikeToken(value: string): boolean {
  return JWT_LIKE.test(value);
}

/** `value` itself, or `eyJh… (812 characters, looks like a token: not shown)`. */
export function quotedValue(value: string): string {
  const token = looksLikeToken(value);
  if (!token && value.length <= LONGEST_SHOWN) return value;
  return `${value.slice(0, SHOWN_PREFIX)}… (${value.length} characters${token ? ', looks like a token' : ''}: not shown)`;
}
