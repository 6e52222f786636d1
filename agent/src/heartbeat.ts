/**
 * The node's heartbeat: its Lease renewed every `renewMs`, each write guarded by the
 * resourceVersion last written. It also answers the question fencing asks, "is my lease still
 * good?", from the local clock: the time of the last successful renewal (monotonic) plus the lease
 * duration, less a margin for the request that renewed it.
 *
 * When renewal has failed for longer than the lease (API server unreachable, the process paused),
 * `onStale` fires so running copies stop before they commit anything more: the dispatcher may
 * already have given their jobs to another node. If another instance took the Lease (our name was
 * claimed after we were presumed dead), `onTaken` fires and the process must end.
 */
import { setTimeout as delay } from "node:timers/promises";
import { isConflict, type Kube, KubeError, type Lease } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { microTime } from "@ferry/common/runtime";
import { ANNOTATION_INSTANCE, leaseRef, nodeLeaseName } from "./names.ts";
import { nodeLease } from "./registration.ts";

export interface HeartbeatOptions {
  kube: Kube;
  namespace: string;
  gateway: string;
  node: string;
  instance: string;
  leaseMs: number;
  renewMs: number;
  log: Logger;
  onStale(): void;
  onTaken(): void;
  /**
   * The API server has refused this agent's credentials (401) for as long as the lease lasts: the
   * registration key was rotated or revoked. Retrying cannot help; the process must end.
   */
  onRevoked?(): void;
  onRenewed?(): void;
  /** Annotations the Lease carries for others, e.g. where this node's peer endpoint listens. */
  annotations?: () => Record<string, string>;
}

/** Immediate renewals after a conflict with a write of this process, before the loop waits. */
const CONFLICT_RETRIES = 3;

export class Heartbeat {
  readonly #o: HeartbeatOptions;
  #lease: Lease;
  /** performance.now() when the request of the last successful renewal was sent. */
  #renewedAt: number;
  #stale = false;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: HeartbeatOptions, claimed: Lease, claimedAt: number) {
    this.#o = options;
    this.#lease = claimed;
    this.#renewedAt = claimedAt;
  }

  /** True while the lease is certainly still ours by our own clock (fencing). */
  fresh(): boolean {
    return performance.now() - this.#renewedAt < this.#o.leaseMs - Math.min(1000, this.#o.leaseMs / 4);
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      await delay(this.#o.renewMs, undefined, { signal }).catch(() => {});
      if (signal.aborted) break;
      if (!this.fresh() && !this.#stale) {
        this.#stale = true;
        this.#o.log.error(
          { sinceRenewMs: Math.round(performance.now() - this.#renewedAt) },
          "heartbeat lease is stale: stopping running copies",
        );
        this.#o.onStale();
      }
      await this.renew().catch((err: unknown) => {
        if (this.#stale && err instanceof KubeError && err.code === 401 && this.#o.onRevoked) {
          this.#stop.abort();
          this.#o.onRevoked();
          return;
        }
        this.#o.log.warn(
          { err: { message: (err as Error)?.message } },
          "could not renew the heartbeat lease",
        );
      });
    }
  }

  /**
   * One renewal. A conflict is judged from the Lease as it is now: another instance's means ours
   * was taken; ours (a write of this process in between) is renewed again at once, a few times at
   * most. A Lease that is gone (deleted by someone, or with its namespace) is created again, so
   * a conflict never becomes a loop of writes that cannot succeed.
   */
  async renew(retries = CONFLICT_RETRIES): Promise<void> {
    const sent = performance.now();
    const desired = (base: Lease | undefined) =>
      nodeLease(
        this.#o.namespace,
        this.#o.gateway,
        this.#o.node,
        this.#o.instance,
        this.#o.leaseMs,
        new Date(),
        base,
        this.#o.annotations?.() ?? {},
      );
    try {
      this.#lease = await this.#o.kube.replace<Lease>(desired(this.#lease));
    } catch (err) {
      if (!isConflict(err)) throw err;
      const current = await this.#o.kube.get<Lease>(leaseRef(this.#o.namespace, nodeLeaseName(this.#o.node)));
      const holder = current?.metadata.annotations?.[ANNOTATION_INSTANCE];
      if (current?.spec.holderIdentity && holder !== this.#o.instance) {
        this.#o.log.error({ holder }, "another instance took this node's lease");
        this.#stop.abort();
        this.#o.onTaken();
        return;
      }
      if (current) {
        if (retries <= 0) throw err;
        this.#lease = current;
        return this.renew(retries - 1);
      }
      // Gone: create it as ours. If another instance creates it first, the next renewal's
      // conflict finds its holder. A namespace being deleted refuses this: the loop tries again
      // after renewMs, as for any failed renewal.
      this.#o.log.warn("this node's lease was deleted; creating it again");
      this.#lease = await this.#o.kube.create<Lease>(desired(undefined));
    }
    this.#renewedAt = sent;
    if (this.#stale) {
      this.#stale = false;
      this.#o.log.info("heartbeat lease renewed again");
    }
    this.#o.onRenewed?.();
  }

  /** Stops renewing and gives the Lease up (empty holder), so the node shows Offline at once. */
  async release(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    const ref = leaseRef(this.#o.namespace, nodeLeaseName(this.#o.node));
    const current = await this.#o.kube.get<Lease>(ref);
    if (!current || current.metadata.annotations?.[ANNOTATION_INSTANCE] !== this.#o.instance) return;
    await this.#o.kube.replace<Lease>({
      ...current,
      spec: { ...current.spec, holderIdentity: "", renewTime: microTime(new Date()) },
    });
  }

  stop(): void {
    this.#stop.abort();
  }
}
