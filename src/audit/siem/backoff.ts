/**
 * Retry delays: exponential from `initial`, capped at `max`, and jittered ("equal jitter": half
 * the delay fixed, half random), so gateways that lost the same receiver do not all come back to
 * it in the same millisecond.
 */
export function retryDelay(attempt: number, initial: number, max: number, random: () => number = Math.random): number {
  const exp = Math.min(max, initial * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
