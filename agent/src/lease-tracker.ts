/**
 * Whether each node's heartbeat is alive, judged the way leader election judges a lease: by how
 * long the dispatcher has seen it unchanged on its own clock, never by comparing the Lease's
 * renewTime with our clock (nodes are separate machines whose clocks may disagree). A new
 * dispatcher has seen nothing yet, so it waits one lease duration before calling any node lost:
 * slower by one period after a failover, never wrong.
 */
import type { Lease } from "@ferry/common";
import { LABEL_NODE } from "./names.ts";

interface Seen {
  resourceVersion: string | undefined;
  at: number;
}

export class LeaseTracker {
  readonly #seen = new Map<string, Seen>();

  /** Records the leases as seen at `now` (ms, monotonic or not, as long as it is one clock). */
  observe(leases: readonly Lease[], now: number): void {
    for (const lease of leases) {
      const node = lease.metadata.labels?.[LABEL_NODE];
      if (!node) continue;
      const seen = this.#seen.get(node);
      if (!seen || seen.resourceVersion !== lease.metadata.resourceVersion) {
        this.#seen.set(node, { resourceVersion: lease.metadata.resourceVersion, at: now });
      }
    }
  }

  /** Alive: the Lease is held and has changed within its duration (as this tracker saw it). */
  alive(lease: Lease | undefined, now: number): boolean {
    if (!lease?.spec.holderIdentity) return false;
    const node = lease.metadata.labels?.[LABEL_NODE];
    const seen = node ? this.#seen.get(node) : undefined;
    if (!seen) return false;
    return now - seen.at < (lease.spec.leaseDurationSeconds ?? 15) * 1000;
  }
}
