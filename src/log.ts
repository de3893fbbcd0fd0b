/**
 * Structured JSON logs (pino). Parts receive a `Logger` as a dependency; none creates its own.
 * Tokens, passwords and held credentials MUST NOT be passed to a logger: the redact list below is
 * a second line of defence for field names that could carry them, not the first.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export const REDACT_PATHS = ['password', 'token', '*.password', '*.token', 'authorization', '*.authorization', 'headers.authorization'];

export function createLogger(level: string = 'info', destination: NodeJS.WritableStream | number = 2): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: false }) : destination;
  return pino({ level, base: { name: 'pgwarden' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, dest);
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
