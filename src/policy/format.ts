/** Small formatting helpers for messages. */

/** Milliseconds as the shortest exact unit PostgreSQL accepts: 5s, 90s, 2min, 1h, 1500ms. */
export function formatMs(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
