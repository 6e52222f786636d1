import { elapsedMs, formatDuration, type Instant, instant } from "./time.ts";

/**
 * A node's concurrency limit from what it observes (spec.concurrency.autoTune).
 *
 * Additive increase, multiplicative decrease, as TCP does for the same reason: stepping up by one
 * finds the ceiling carefully, stepping down by a quarter gets out of trouble fast.
 *
 * - Raise by RAISE_STEP when there is clearly room and a need: CPU below CPU_IDLE_PERCENT, memory
 *   idle (MEMORY_IDLE_FRACTION of the total free, or MEMORY_IDLE_BYTES when the total is unknown),
 *   one more job's worth of memory (the current per-job average) still leaves the node above the
 *   low-memory mark, every slot busy, and jobs waiting.
 * - Lower by LOWER_FRACTION of the limit (at least 1) when saturated: CPU above
 *   CPU_SATURATED_PERCENT, or memory low (below MEMORY_LOW_FRACTION of the total, or below
 *   MEMORY_LOW_BYTES in any case). Running jobs are not stopped; fewer are assigned.
 * - Always within [1, maxPerNode]; a limit outside is brought back at once, cooldown or not.
 *
 * No flapping: the band between the idle and saturated thresholds changes nothing, and after any
 * change the limit holds for cooldownMs (the caller records the time of the change as the
 * annotation ferry.dev/concurrency-changed-at on the GatewayNode and passes it back as
 * lastChangeAt), long enough for the new jobs to show up in the node's CPU and memory.
 */

export const CPU_IDLE_PERCENT = 60;
export const CPU_SATURATED_PERCENT = 90;
export const MEMORY_IDLE_FRACTION = 0.3;
export const MEMORY_LOW_FRACTION = 0.1;
export const MEMORY_IDLE_BYTES = 1024 ** 3;
export const MEMORY_LOW_BYTES = 256 * 1024 ** 2;
export const RAISE_STEP = 1;
export const LOWER_FRACTION = 0.25;

export interface ConcurrencyInput {
  /** The node's current limit. */
  limit: number;
  /** spec.concurrency.maxPerNode. */
  maxPerNode: number;
  /** status.resources.cpuPercent; undefined when the node has not reported. */
  cpuPercent?: number;
  /** status.resources.availableMemoryBytes. */
  availableMemoryBytes?: number;
  /** The node's memory limit, when known (the pod's limit, or the host's memory). */
  totalMemoryBytes?: number;
  /** Jobs holding one of the node's slots (not the ones waiting in its queue). */
  runningJobs: number;
  /** Jobs of the gateway waiting for a slot. */
  pendingJobs: number;
  /** When the limit last changed (annotation ferry.dev/concurrency-changed-at). */
  lastChangeAt?: Instant;
  now: Date;
  cooldownMs: number;
}

export interface ConcurrencyDecision {
  limit: number;
  changed: boolean;
  reason: string;
  /** Carries the observed numbers and the thresholds they were compared with. */
  message: string;
}

const MiB = 1024 ** 2;

function memoryText(available: number, total: number | undefined): string {
  return total
    ? `${Math.round(available / MiB)} MiB of ${Math.round(total / MiB)} MiB memory available`
    : `${Math.round(available / MiB)} MiB memory available`;
}

export function concurrencyDecision(input: ConcurrencyInput): ConcurrencyDecision {
  const maxPerNode = Math.max(1, input.maxPerNode);
  const bounded = Math.min(maxPerNode, Math.max(1, Math.floor(input.limit)));
  if (bounded !== input.limit) {
    return {
      limit: bounded,
      changed: true,
      reason: "OutOfBounds",
      message: `limit ${input.limit} is outside 1..${maxPerNode} (spec.concurrency.maxPerNode): set to ${bounded}`,
    };
  }
  const limit = bounded;
  const hold = (reason: string, message: string): ConcurrencyDecision => ({
    limit,
    changed: false,
    reason,
    message,
  });

  const cpu = input.cpuPercent;
  const available = input.availableMemoryBytes;
  if (cpu === undefined || available === undefined) {
    return hold("NoMetrics", `the node has not reported CPU and memory yet; limit stays ${limit}`);
  }
  const total = input.totalMemoryBytes && input.totalMemoryBytes > 0 ? input.totalMemoryBytes : undefined;
  const lowMark = Math.max(MEMORY_LOW_BYTES, total ? total * MEMORY_LOW_FRACTION : 0);
  const observed =
    `CPU ${Math.round(cpu)}%, ${memoryText(available, total)}, ` +
    `${input.runningJobs} of ${limit} slots busy, ${input.pendingJobs} jobs waiting`;

  const since = instant(input.lastChangeAt);
  const coolingFor = since ? input.cooldownMs - elapsedMs(since, input.now) : 0;

  const cpuSaturated = cpu > CPU_SATURATED_PERCENT;
  const memoryLow = available < lowMark;
  if (cpuSaturated || memoryLow) {
    const why = [
      cpuSaturated ? `CPU above ${CPU_SATURATED_PERCENT}%` : "",
      memoryLow ? `memory below ${Math.round(lowMark / MiB)} MiB` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    if (limit === 1) return hold("Saturated", `${observed}: saturated (${why}) at the lowest limit, 1`);
    if (coolingFor > 0) {
      return hold(
        "CoolingDown",
        `${observed}: saturated (${why}), the limit last changed ${formatDuration(input.cooldownMs - coolingFor)} ago; ` +
          `lowering it from ${limit} in ${formatDuration(coolingFor)} if still saturated`,
      );
    }
    const lowered = Math.max(1, limit - Math.max(1, Math.floor(limit * LOWER_FRACTION)));
    return {
      limit: lowered,
      changed: true,
      reason: cpuSaturated ? "CpuSaturated" : "MemoryLow",
      message: `${observed}: saturated (${why}), limit lowered from ${limit} to ${lowered}`,
    };
  }

  const cpuIdle = cpu < CPU_IDLE_PERCENT;
  const memoryIdle = total ? available >= total * MEMORY_IDLE_FRACTION : available >= MEMORY_IDLE_BYTES;
  const allBusy = input.runningJobs >= limit;
  const waiting = input.pendingJobs > 0;
  const perJob = total && input.runningJobs > 0 ? (total - available) / input.runningJobs : 0;
  const roomForOneMore = available - perJob >= lowMark;
  if (cpuIdle && memoryIdle && allBusy && waiting && roomForOneMore && limit < maxPerNode) {
    if (coolingFor > 0) {
      return hold(
        "CoolingDown",
        `${observed}: room for more, the limit last changed ${formatDuration(input.cooldownMs - coolingFor)} ago; ` +
          `raising it from ${limit} in ${formatDuration(coolingFor)} if still so`,
      );
    }
    const raised = Math.min(maxPerNode, limit + RAISE_STEP);
    return {
      limit: raised,
      changed: true,
      reason: "ResourcesIdle",
      message:
        `${observed}: CPU below ${CPU_IDLE_PERCENT}% and memory idle while every slot is busy and jobs wait; ` +
        `limit raised from ${limit} to ${raised}`,
    };
  }

  const notRaising = !allBusy
    ? "slots are free"
    : !waiting
      ? "no job waits"
      : limit >= maxPerNode
        ? `the limit is at spec.concurrency.maxPerNode ${maxPerNode}`
        : !cpuIdle
          ? `CPU is not below ${CPU_IDLE_PERCENT}%`
          : !memoryIdle
            ? "memory is not idle"
            : `one more job (about ${Math.round(perJob / MiB)} MiB) would leave less than ${Math.round(lowMark / MiB)} MiB`;
  return hold("Steady", `${observed}: limit stays ${limit} (${notRaising})`);
}
