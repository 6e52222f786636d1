/**
 * "Retry or fail this job?" after an attempt ended with an error, as a pure function (style.md,
 * rule 6). Permanent errors (bad credentials, a missing table, permission denied) fail at once, so
 * a broken job never turns into a retry storm; transient ones are retried while the job's attempt
 * budget lasts, after an exponential, jittered delay.
 */
import { backoffDelay } from "@ferry/common/runtime";
import type { RetryPolicy } from "@ferry/crds";

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_SECONDS = 30;
const MAX_BACKOFF_MS = 3_600_000;

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; why: string };

export function maxAttempts(policy: RetryPolicy | undefined): number {
  return Math.max(1, policy?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
}

/**
 * `attempt` is the number of the attempt that just failed (from 1). The delay before attempt n+1
 * is backoffSeconds·2^(n-1), capped at one hour, shortened by up to 20% at random.
 */
export function decideRetry(
  error: { transient: boolean; reason: string },
  attempt: number,
  policy: RetryPolicy | undefined,
  random: () => number = Math.random,
): RetryDecision {
  if (!error.transient) return { retry: false, why: `${error.reason} is not transient` };
  const max = maxAttempts(policy);
  if (attempt >= max) return { retry: false, why: `all ${max} attempts used` };
  const baseMs = (policy?.backoffSeconds ?? DEFAULT_BACKOFF_SECONDS) * 1000;
  return { retry: true, delayMs: backoffDelay(attempt - 1, { baseMs, capMs: MAX_BACKOFF_MS }, random) };
}
