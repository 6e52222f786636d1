/**
 * `metav1.Condition` helpers. The rule they keep: `lastTransitionTime` is when `status` last
 * changed, not when the condition was last written, so a condition re-computed every reconcile
 * keeps its time (and the object is not rewritten) until the status really flips.
 */
import type { Condition, ConditionStatus } from "@ferry/crds";
import { metaTime } from "./time.ts";

export type { Condition, ConditionStatus };

export interface ConditionUpdate {
  /** CamelCase, e.g. `Ready`. */
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable, e.g. `PodNotReady`. */
  reason: string;
  /** What a user can act on. Never secrets: conditions are readable by anyone who can get the object. */
  message: string;
  observedGeneration?: number;
}

/**
 * `conditions` with `next` set (replaced or appended; the list is not modified). The transition
 * time is kept when `status` is unchanged and is `now` otherwise. Pure: the clock is a parameter.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  next: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === next.type);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime:
      existing && existing.status === next.status ? existing.lastTransitionTime : metaTime(now),
    reason: next.reason,
    message: next.message,
  };
  return existing ? list.map((c) => (c === existing ? condition : c)) : [...list, condition];
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}
