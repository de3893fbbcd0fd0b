/**
 * Durations in the configuration: `500ms`, `30s`, `5m`, `1h`, `2d`, or a bare number of seconds.
 * A leaf module (it imports nothing of the gateway), so that each part's own config schema can use
 * it without importing the config loader, which composes those schemas.
 */
import { z } from 'zod';

/** Parse `500ms`, `30s`, `5m`, `1h`, `2d` into milliseconds. A bare number is seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(n * unit);
}

/** A config value that is a duration, in milliseconds. */
export const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'a duration such as 500ms, 30s, 5m, 1h')])
  .transform((v) => (typeof v === 'number' ? v * 1000 : parseDuration(v)));
