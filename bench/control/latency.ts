/**
 * From when jobs were created and seen in each phase to the two latencies the dispatch benchmark
 * reports, pure so the definitions are in one readable place:
 *
 * - queued latency: created → Running. With more jobs than slots this is mostly the wait for a
 *   free slot, so it measures the gateway's capacity as much as the dispatcher.
 * - dispatch latency: runnable → Running, where a job is runnable once it exists AND a slot is
 *   free for it. Slots are a gateway-wide pool of `slots` (every node's limit summed; the
 *   dispatcher may use any node's free slot). A job takes a slot when it is seen Running and frees
 *   it when it is seen final. (Assigned does not take a slot: the dispatcher gives a node up to as
 *   many jobs again as it has slots, to wait in its queue.) Starts are replayed in the order they
 *   were seen; each takes the slot that has been free the longest, so runnable = max(created, when
 *   that slot freed). Taking the oldest free slot charges the dispatcher for every moment a slot
 *   sat idle while a job waited: an upper bound on its overhead, never flattering.
 */
import type { JobTimes } from "./observer.ts";

const FINAL = ["Succeeded", "Failed", "Cancelled"];

export interface Latencies {
  /** created → Running, per job that ran. */
  queued: number[];
  /** runnable → Running. */
  toRunning: number[];
  /** runnable → Running of the jobs seen Assigned before they were runnable: they waited in a node's queue. */
  fromQueue: number[];
  /** runnable → Running of the others, assigned once runnable (the first round of slots, mostly). */
  assignedLate: number[];
  /** runnable → Running of the jobs seen Running before the last create was answered, and after. */
  duringCreates: number[];
  afterCreates: number[];
  /** Starts seen with no slot known to be free: a node over its limit, or observations out of order (expected 0). */
  unexplained: number;
}

export function finishedAt(job: JobTimes): number | undefined {
  const times = FINAL.map((p) => job.phases[p]).filter((t): t is number => t !== undefined);
  return times.length ? Math.min(...times) : undefined;
}

/**
 * `created` maps a job name to when it came into existence (the earlier of the create call's
 * response and the watch's first sight of it).
 */
export function latencies(
  jobs: JobTimes[],
  created: Map<string, number>,
  slots: number,
  /** When the last create was answered (ms since the epoch). */
  createsEnd: number,
): Latencies {
  type Step = { at: number; kind: "free" | "start"; job: JobTimes };
  const steps: Step[] = [];
  for (const job of jobs) {
    const running = job.phases.Running;
    if (running === undefined) continue;
    steps.push({ at: running, kind: "start", job });
    const end = finishedAt(job);
    if (end !== undefined) steps.push({ at: end, kind: "free", job });
  }
  // A slot freed in the same millisecond as a start was free for it.
  steps.sort((a, b) => a.at - b.at || (a.kind === "free" ? -1 : 1) - (b.kind === "free" ? -1 : 1));
  // Oldest free slot first; the initial slots were free before anything existed.
  const free: number[] = Array.from({ length: slots }, () => Number.NEGATIVE_INFINITY);
  let head = 0;
  const out: Latencies = {
    queued: [],
    toRunning: [],
    fromQueue: [],
    assignedLate: [],
    duringCreates: [],
    afterCreates: [],
    unexplained: 0,
  };
  for (const step of steps) {
    if (step.kind === "free") {
      free.push(step.at);
      continue;
    }
    const job = step.job;
    const born = created.get(job.name) ?? job.seen;
    let slotFree: number;
    if (head < free.length) slotFree = free[head++]!;
    else {
      out.unexplained++;
      slotFree = step.at;
    }
    const runnable = Math.max(born, slotFree);
    out.toRunning.push(step.at - runnable);
    out.queued.push(step.at - born);
    const waited = job.phases.Assigned !== undefined && job.phases.Assigned < runnable;
    (waited ? out.fromQueue : out.assignedLate).push(step.at - runnable);
    (step.at <= createsEnd ? out.duringCreates : out.afterCreates).push(step.at - runnable);
  }
  return out;
}
