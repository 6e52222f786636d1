/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: one active operator,
 * standbys waiting to take over.
 *
 * Safety rests on two rules. Every write of the Lease is guarded by its resourceVersion (an update
 * with a stale one is a conflict, a create of an existing one AlreadyExists), so of two candidates
 * racing for a free lease exactly one wins. And the leader gives up *before* anyone else may take
 * over: it stops (calls `onStoppedLeading`) when it has not renewed for `renewDeadlineMs`, shorter
 * than the lease duration, while a standby takes over only after it saw the lease unchanged for a
 * whole lease duration, measured on its own clock (no clock comparison between machines).
 *
 * On graceful shutdown (the `signal`) the leader stops its work, waits for it, then releases the
 * lease (empty holder) so that a standby takes over at its next poll instead of a lease later.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "pino";
import type { Lease } from "../index.ts";
import { isAlreadyExists, isConflict, type Kube } from "../kube.ts";
import type { Metrics } from "./metrics.ts";
import { microTime } from "./time.ts";

export interface LeaderElectionOptions {
  kube: Kube;
  namespace: string;
  name: string;
  /** Unique per process (e.g. pod name plus a random suffix): two processes with one identity both lead. */
  identity: string;
  /** How long a lease holds without renewal; whole seconds on the wire (rounded up). Default 15 s. */
  leaseDurationMs?: number;
  /** How often the leader renews and a standby polls. Default 2 s. */
  renewEveryMs?: number;
  /**
   * The leader stops when it could not renew for this long. It must stay below the lease duration
   * (the margin covers request latency and timer delays), so the old leader has stopped before a
   * standby can acquire. Default two thirds of the lease duration.
   */
  renewDeadlineMs?: number;
  log: Logger;
  /** Graceful shutdown: stop leading (after the work stopped) and release the lease. */
  signal?: AbortSignal;
  metrics?: Metrics;
  /** Starts the leader's work; `signal` aborts when leadership ends. A rejection ends leadership. */
  onStartedLeading(signal: AbortSignal): Promise<void> | void;
  /**
   * Called once whenever leadership ends, lost or released. After a loss, exit the process: a
   * restart is the clean way back to standby.
   */
  onStoppedLeading(): void;
}

type Attempt = "acquired" | "held-by-other" | "conflict";

/**
 * Campaigns until leading, leads until the lease is lost or `signal` aborts, then resolves. If
 * `signal` aborts while campaigning it resolves without having led.
 */
export async function runLeaderElection(options: LeaderElectionOptions): Promise<void> {
  const { kube, namespace, name, identity, onStartedLeading, onStoppedLeading } = options;
  const leaseDurationSeconds = Math.max(1, Math.ceil((options.leaseDurationMs ?? 15_000) / 1000));
  const leaseDurationMs = leaseDurationSeconds * 1000;
  const renewEveryMs = options.renewEveryMs ?? 2_000;
  const renewDeadlineMs =
    options.renewDeadlineMs ?? Math.floor(((options.leaseDurationMs ?? 15_000) * 2) / 3);
  if (!(renewEveryMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new Error(
      `need renewEveryMs (${renewEveryMs}) < renewDeadlineMs (${renewDeadlineMs}) < lease duration (${leaseDurationMs})`,
    );
  }
  const signal = options.signal ?? new AbortController().signal;
  const log = options.log.child({ lease: `${namespace}/${name}`, identity });
  const leading = options.metrics?.gauge(
    "ferry_leader_election_leading",
    "1 while this process holds the lease.",
    ["lease"],
  );
  const ref = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace, name };

  // The last version of the lease seen, and when (on our clock): another holder's lease has
  // expired when it has not changed for its duration since we first saw this version.
  let observed: { resourceVersion: string | undefined; at: number; durationMs: number } | undefined;
  const observe = (lease: Lease) => {
    if (observed?.resourceVersion === lease.metadata.resourceVersion) return;
    observed = {
      resourceVersion: lease.metadata.resourceVersion,
      at: Date.now(),
      durationMs: (lease.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000,
    };
  };

  let seenHolder: string | null | undefined;
  const attempt = async (): Promise<Attempt> => {
    const now = microTime(new Date());
    const lease = await kube.get<Lease>(ref);
    if (!lease) {
      try {
        observe(
          await kube.create<Lease>({
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "ferry" } },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          }),
        );
        return "acquired";
      } catch (err) {
        if (isAlreadyExists(err)) return "conflict";
        throw err;
      }
    }
    observe(lease);
    const holder = lease.spec.holderIdentity;
    seenHolder = holder;
    const ours = holder === identity;
    if (holder && !ours && observed && Date.now() < observed.at + observed.durationMs) return "held-by-other";
    const spec: Lease["spec"] = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
    };
    if (!ours) {
      spec.acquireTime = now;
      spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1;
    }
    try {
      observe(await kube.replace<Lease>({ ...lease, spec }));
      return "acquired";
    } catch (err) {
      if (isConflict(err)) return "conflict";
      throw err;
    }
  };

  // Campaign.
  let loggedHolder: string | null | undefined;
  // The deadline counts from before the winning request was sent: the lease may be dated then.
  let lastRenew: number;
  for (;;) {
    if (signal.aborted) return;
    lastRenew = Date.now();
    const outcome = await attempt().catch((err: unknown) => {
      log.warn({ err }, "could not read or acquire the lease");
      return "error" as const;
    });
    if (outcome === "acquired") break;
    if (outcome === "held-by-other" && seenHolder !== loggedHolder) {
      loggedHolder = seenHolder;
      log.info({ holder: seenHolder }, "standing by: the lease is held");
    }
    await delay(renewEveryMs * (1 + 0.2 * Math.random()), undefined, { signal }).catch(() => {});
  }

  log.info("became the leader");
  leading?.set({ lease: `${namespace}/${name}` }, 1);
  const work = new AbortController();
  // Leading ends on the first of: shutdown, the work failing, the lease lost.
  const ended = new AbortController();
  const onAbort = () => ended.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  const worked = Promise.resolve()
    .then(() => onStartedLeading(work.signal))
    .catch((err: unknown) => {
      log.error({ err }, "the leader's work failed; giving up leadership");
      ended.abort();
    });

  let lost = false;
  while (!ended.signal.aborted) {
    await delay(renewEveryMs, undefined, { signal: ended.signal }).catch(() => {});
    if (ended.signal.aborted) break;
    const started = Date.now();
    const remaining = lastRenew + renewDeadlineMs - started;
    // A renewal stuck on a dead connection must not keep us leading past the deadline.
    const deadline = new AbortController();
    const outcome = await Promise.race([
      attempt().catch((err: unknown) => err),
      delay(Math.max(0, remaining), "timeout" as const, { signal: deadline.signal }).catch(
        () => "timeout" as const,
      ),
    ]);
    deadline.abort();
    if (outcome === "acquired") {
      lastRenew = started;
      continue;
    }
    if (outcome === "held-by-other") {
      log.error("the lease was taken by another candidate");
      lost = true;
      break;
    }
    if (Date.now() >= lastRenew + renewDeadlineMs) {
      log.error({ err: outcome, sinceRenewMs: Date.now() - lastRenew }, "could not renew the lease in time");
      lost = true;
      break;
    }
    log.warn({ err: outcome }, "lease renewal failed; retrying");
  }
  signal.removeEventListener("abort", onAbort);
  work.abort();
  leading?.set({ lease: `${namespace}/${name}` }, 0);

  if (!lost) {
    // Graceful: the work must have stopped before anyone else may start (no two leaders at once).
    await worked;
    await release().catch((err: unknown) => log.warn({ err }, "could not release the lease"));
  }
  log.info({ lost }, "stopped leading");
  onStoppedLeading();

  async function release(): Promise<void> {
    const lease = await kube.get<Lease>(ref);
    if (!lease || lease.spec.holderIdentity !== identity) return;
    const now = microTime(new Date());
    await kube.replace<Lease>({
      ...lease,
      spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now },
    });
    log.info("released the lease");
  }
}
