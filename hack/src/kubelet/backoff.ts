/**
 * Crash-loop backoff, kubelet's numbers by default: 10 s, doubled on every crash up to 5 minutes,
 * forgotten once a container has run for twice the maximum. Unlike kubelet, the first restart
 * waits too (kubelet restarts at once the first time): every crash is then visible as
 * CrashLoopBackOff, which is what tests and people watching `kubectl get pods` look for.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** A run at least this long resets the delay to `baseMs`. */
  resetAfterMs: number;
}

export function backoffPolicy(baseMs = 10_000, maxMs = Math.max(300_000, baseMs)): BackoffPolicy {
  return { baseMs, maxMs, resetAfterMs: 2 * maxMs };
}

/**
 * The delay before the next start, given the crashes in a row so far (this one included) and how
 * long the process that just ended had run; returns the new count of crashes in a row too.
 */
export function nextDelay(
  policy: BackoffPolicy,
  crashesInRow: number,
  ranMs: number,
): { delayMs: number; crashes: number } {
  const crashes = ranMs >= policy.resetAfterMs ? 1 : crashesInRow + 1;
  const delayMs = Math.min(policy.baseMs * 2 ** (crashes - 1), policy.maxMs);
  return { delayMs, crashes };
}
