/**
 * Jittered exponential backoff, shared by the work queue (per-key retries), the informers
 * (reconnects) and leader election (retries).
 */

export interface Backoff {
  baseMs: number;
  capMs: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): `baseMs * 2^attempt`, capped at
 * `capMs`, then shortened by up to 20% at random. Jitter only ever shortens, so the cap holds and
 * callers that fail together (every informer when the API server restarts) spread out even at the
 * cap; and because 20% is less than half, each delay is longer than the one before until the cap.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt));
  return exponential * (1 - 0.2 * random());
}
