/**
 * Registration: the GatewayNode this process runs as (created for an external node), and the
 * claim of its heartbeat Lease, which is what makes one process the owner of a node name.
 *
 * The instance id: every process has one, written on the Lease (annotation ferry.dev/instance-id).
 * With --state-dir it is kept in a file, so a restarted node finds its own id on the Lease and
 * reclaims its name at once; without one (pods: the operator replaces the pod, not the process) a
 * new id is drawn and the name is reclaimed once the old Lease has expired. A Lease held by another
 * instance is watched for one lease duration on our own clock (no clock comparison between
 * machines): if it is renewed meanwhile another live process has the name and we refuse to start;
 * if not, its holder is dead and we take over.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { isAlreadyExists, isConflict, type Kube, type Lease } from "@ferry/common";
import { microTime } from "@ferry/common/runtime";
import type { GatewayNode } from "@ferry/crds";
import { EXIT, FatalError } from "./identity.ts";
import {
  ANNOTATION_DRAINING,
  ANNOTATION_INSTANCE,
  API_VERSION,
  LABEL_GATEWAY,
  LABEL_PART_OF,
  LEASE_API,
  leaseLabels,
  leaseRef,
  nodeLeaseName,
  nodeRef,
} from "./names.ts";

export async function loadInstanceId(
  stateDir: string | undefined,
  namespace: string,
  node: string,
): Promise<string> {
  if (!stateDir) return randomUUID();
  const file = join(stateDir, `${namespace}.${node}.instance-id`);
  const stored = await readFile(file, "utf8").catch(() => "");
  if (stored.trim()) return stored.trim();
  const id = randomUUID();
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/** Makes sure the GatewayNode exists and belongs to our gateway; creates an external one. */
export async function ensureNode(
  kube: Kube,
  namespace: string,
  gateway: string,
  node: string,
  create: boolean,
): Promise<GatewayNode> {
  const ref = nodeRef(namespace, node);
  let existing = await kube.get<GatewayNode>(ref);
  if (!existing && create) {
    try {
      existing = await kube.create<GatewayNode>({
        apiVersion: API_VERSION,
        kind: "GatewayNode",
        metadata: {
          name: node,
          namespace,
          labels: { [LABEL_PART_OF]: "ferry", [LABEL_GATEWAY]: gateway },
        },
        spec: { gatewayRef: { name: gateway }, managed: false },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      existing = await kube.get<GatewayNode>(ref);
    }
  }
  if (!existing) throw new FatalError(`GatewayNode ${namespace}/${node} does not exist`, EXIT.key);
  if (existing.spec.gatewayRef.name !== gateway) {
    throw new FatalError(
      `node name ${node} is taken by a node of gateway ${existing.spec.gatewayRef.name}; choose another --node`,
      EXIT.duplicate,
    );
  }
  return existing;
}

export type ClaimDecision = "take" | "watch" | "refuse";

/**
 * Whether this instance may take the node Lease now. `watchedMs` is how long the Lease has been
 * seen unchanged (undefined: not watched yet); `changed` whether it was renewed while watched.
 */
export function decideClaim(
  lease: Lease | undefined,
  instance: string,
  watch: { watchedMs?: number; changed: boolean },
): ClaimDecision {
  if (!lease?.spec.holderIdentity) return "take";
  if (lease.metadata.annotations?.[ANNOTATION_INSTANCE] === instance) return "take";
  if (watch.changed) return "refuse";
  const durationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
  if (watch.watchedMs !== undefined && watch.watchedMs >= durationMs) return "take";
  return "watch";
}

export function nodeLease(
  namespace: string,
  gateway: string,
  node: string,
  instance: string,
  leaseMs: number,
  now: Date,
  base?: Lease,
  /** More annotations to publish, such as the node's peer endpoint (agent/src/net). */
  extra: Record<string, string> = {},
): Lease {
  const seconds = Math.max(1, Math.ceil(leaseMs / 1000));
  // "Draining" is said by the instance that stops, on each of its renewals: a new instance (the
  // node's replacement pod) must not inherit it, or the dispatcher would never give it a job.
  const { [ANNOTATION_DRAINING]: _draining, ...kept } = base?.metadata.annotations ?? {};
  const ours =
    base?.metadata.annotations?.[ANNOTATION_INSTANCE] === instance && Boolean(base?.spec.holderIdentity);
  return {
    apiVersion: LEASE_API,
    kind: "Lease",
    metadata: {
      ...(base?.metadata ?? {}),
      name: nodeLeaseName(node),
      namespace,
      labels: { ...(base?.metadata.labels ?? {}), ...leaseLabels(gateway, "node-lease", node) },
      annotations: { ...kept, ...extra, [ANNOTATION_INSTANCE]: instance },
    },
    spec: {
      holderIdentity: node,
      leaseDurationSeconds: seconds,
      renewTime: microTime(now),
      acquireTime: ours ? (base?.spec.acquireTime ?? microTime(now)) : microTime(now),
      leaseTransitions: (base?.spec.leaseTransitions ?? 0) + (ours || !base ? 0 : 1),
    },
  };
}

/** Claims the node Lease for `instance`, or throws a FatalError naming the live holder. */
export async function claimNodeLease(
  kube: Kube,
  namespace: string,
  gateway: string,
  node: string,
  instance: string,
  leaseMs: number,
  onWatching: (holder: string) => void,
): Promise<{ lease: Lease; claimedAt: number }> {
  const ref = leaseRef(namespace, nodeLeaseName(node));
  let watched: { rv: string | undefined; since: number } | undefined;
  for (;;) {
    const lease = await kube.get<Lease>(ref);
    const changed = watched !== undefined && lease?.metadata.resourceVersion !== watched.rv;
    const decision = decideClaim(lease, instance, {
      changed,
      ...(watched ? { watchedMs: Date.now() - watched.since } : {}),
    });
    if (decision === "refuse") {
      throw new FatalError(
        `node ${node} is already running elsewhere (instance ${lease?.metadata.annotations?.[ANNOTATION_INSTANCE] ?? "unknown"} keeps its lease fresh); stop it or choose another --node`,
        EXIT.duplicate,
      );
    }
    if (decision === "take") {
      // The lease counts as renewed from just before the write (performance.now(): monotonic), not
      // from when claiming began: after waiting out another holder that would be a lease period
      // ago, and the heartbeat would call its own fresh lease stale.
      const claimedAt = performance.now();
      const desired = nodeLease(namespace, gateway, node, instance, leaseMs, new Date(), lease);
      try {
        const written = lease ? await kube.replace<Lease>(desired) : await kube.create<Lease>(desired);
        return { lease: written, claimedAt };
      } catch (err) {
        // Someone else wrote it in between: judge again from what is there now.
        if (isConflict(err) || isAlreadyExists(err)) {
          watched = undefined;
          continue;
        }
        throw err;
      }
    }
    if (!watched) {
      watched = { rv: lease?.metadata.resourceVersion, since: Date.now() };
      onWatching(lease?.metadata.annotations?.[ANNOTATION_INSTANCE] ?? "unknown");
    }
    await delay(500);
  }
}
