import type { NodeState } from "@ferry/crds";
import { elapsedMs, formatDuration, type Instant, instant } from "./time.ts";

/**
 * The state of one GatewayNode, from what the operator observes: the node's heartbeat Lease, its
 * pod (managed nodes), whether the update controller is replacing it, and what the agent reports.
 *
 * Precedence, first match wins:
 *
 *   1. Upgrading — the update controller replaced the node and the replacement is not healthy yet.
 *      It masks Offline on purpose: a deleted pod and a stale lease are expected while a node is
 *      replaced, and the rollout has its own ready timeout (see rollout.ts). Once the replacement
 *      heartbeats with a running, ready pod (and the target version, when given) the usual rules
 *      below apply, so a node never stays Upgrading because an annotation was left behind.
 *   2. Offline — no live heartbeat: the lease was never renewed, expired (plus a clock-skew
 *      grace) or released by an agent that stopped, or a managed node's pod is missing,
 *      terminating or not running. Nothing else is
 *      worth saying about a node that is not there.
 *   3. Inactive — connected but out of step with the gateway: its configuration differs from the
 *      majority, or it reaches none of the other nodes (isolated). Worse than Limited because the
 *      node should not take jobs at all.
 *   4. Limited — connected but degraded: credential key not loaded, pod not ready, some peers
 *      unreachable, clock skewed, or an agent version other than the majority. The reason names
 *      the most serious cause (in that order); the message lists all of them.
 *   5. Online.
 *
 * Unknown agent reports (`credentialKeyLoaded`, `peersReachable` undefined: not reported yet, or a
 * single-node gateway with no peers) do not degrade a node: only a reported failure does.
 *
 * The lease's renewTime is written with the node's clock. External nodes may run with a skewed
 * clock, so expiry allows LEASE_GRACE_MS on top of leaseDurationSeconds, and a renewTime further in
 * the future than MAX_CLOCK_SKEW_MS marks the node Limited (ClockSkew): its lease cannot be trusted
 * to expire on time. A caller that prefers its own clock can pass the time it observed the lease
 * change as `renewTime`.
 */

/** How long after expiry (renewTime + leaseDurationSeconds) a lease still counts as live. */
export const LEASE_GRACE_MS = 5_000;
/** A renewTime this far ahead of the operator's clock means the node's clock is wrong. */
export const MAX_CLOCK_SKEW_MS = 30_000;
/** Used when the Lease does not say (the agent writes 15, see docs/architecture.md). */
export const DEFAULT_LEASE_DURATION_SECONDS = 15;

/** The Limited reason that only says "not the majority version": expected during a rollout. */
export const VERSION_MISMATCH = "VersionMismatch";

export interface NodeStateInput {
  /** spec.managed: the operator runs the node as a pod. */
  managed: boolean;
  /** The node's heartbeat Lease `ferry-node-<node>`; undefined when it does not exist. */
  lease?: { renewTime?: Instant; leaseDurationSeconds?: number; holderIdentity?: string | null };
  /** The managed node's pod; undefined when there is none (ignored for external nodes). */
  pod?: { phase: string; ready: boolean; deleting: boolean };
  /** The update controller has replaced the node (annotation ferry.dev/upgrade-started-at). */
  upgrading: boolean;
  /** The version the replacement runs; while upgrading, the node is healthy only on this one. */
  upgradeTargetVersion?: string;
  /** status.version, as the agent reports it. */
  version?: string;
  /** The gateway's majority version (gateway-phase.ts majorityVersion). */
  majorityVersion?: string;
  /** The agent's CredentialKeyLoaded condition; undefined when not reported. */
  credentialKeyLoaded?: boolean;
  /** The agent's PeersReachable condition; undefined when not reported or no peers. */
  peersReachable?: boolean;
  /** Peer probe counts, when known: none reachable out of several makes the node Inactive. */
  peers?: { reachable: number; total: number };
  /** The node's configuration matches the majority of the gateway's nodes. */
  configMatchesMajority: boolean;
}

export interface NodeStateDecision {
  state: NodeState;
  /** CamelCase, for the Ready/Degraded conditions. */
  reason: string;
  /** What happened and what to do, with the numbers. */
  message: string;
}

interface Heartbeat {
  live: boolean;
  reason: string;
  message: string;
  futureSkewMs: number;
}

function heartbeat(lease: NodeStateInput["lease"], now: Date): Heartbeat {
  const renewed = instant(lease?.renewTime);
  if (lease === undefined || renewed === undefined) {
    return {
      live: false,
      reason: "NoHeartbeat",
      message:
        lease === undefined
          ? "the node's heartbeat lease does not exist: the agent has not started or cannot reach the API server"
          : "the node's heartbeat lease was never renewed: the agent has not started or cannot reach the API server",
      futureSkewMs: 0,
    };
  }
  // An agent that stops cleanly empties the holder as its last write: it is gone now, not when
  // the lease would have expired. (undefined means the cache does not say, not released.)
  if (lease.holderIdentity === "") {
    return {
      live: false,
      reason: "LeaseReleased",
      message: "the agent stopped and released its heartbeat lease; it is Online again when it starts",
      futureSkewMs: 0,
    };
  }
  const durationSeconds = lease.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
  const age = elapsedMs(renewed, now);
  if (age > durationSeconds * 1000 + LEASE_GRACE_MS) {
    return {
      live: false,
      reason: "HeartbeatExpired",
      message:
        `the heartbeat lease was last renewed ${formatDuration(age)} ago (${renewed.toISOString()}); ` +
        `it expires after ${durationSeconds}s plus ${LEASE_GRACE_MS / 1000}s grace: ` +
        "check that the agent runs and can reach the API server",
      futureSkewMs: 0,
    };
  }
  return { live: true, reason: "", message: "", futureSkewMs: Math.max(0, -age) };
}

function podProblem(pod: NodeStateInput["pod"]): { reason: string; message: string } | undefined {
  if (pod === undefined) {
    return { reason: "PodMissing", message: "the node's pod does not exist; the operator recreates it" };
  }
  if (pod.deleting) {
    return { reason: "PodTerminating", message: "the node's pod is being deleted" };
  }
  if (pod.phase !== "Running") {
    return {
      reason: "PodNotRunning",
      message: `the node's pod is ${pod.phase}, not Running: see the pod's events and logs`,
    };
  }
  return undefined;
}

export function nodeState(input: NodeStateInput, now: Date): NodeStateDecision {
  const beat = heartbeat(input.lease, now);
  const podIssue = input.managed ? podProblem(input.pod) : undefined;

  if (input.upgrading) {
    const target = input.upgradeTargetVersion;
    const waitingFor = !beat.live
      ? beat.message
      : podIssue !== undefined
        ? podIssue.message
        : input.managed && input.pod?.ready !== true
          ? "the new pod is not ready yet"
          : target !== undefined && input.version !== target
            ? `the node reports version ${input.version ?? "(none)"}, waiting for ${target}`
            : undefined;
    if (waitingFor !== undefined) {
      return {
        state: "Upgrading",
        reason: "Upgrading",
        message: `the update controller is replacing the node${target ? ` with version ${target}` : ""}; ${waitingFor}`,
      };
    }
  }

  if (!beat.live) return { state: "Offline", reason: beat.reason, message: beat.message };
  if (podIssue !== undefined) return { state: "Offline", ...podIssue };

  if (!input.configMatchesMajority) {
    return {
      state: "Inactive",
      reason: "ConfigurationMismatch",
      message:
        "the node's configuration differs from the majority of the gateway's nodes; " +
        "it takes no jobs until it is restarted with the gateway's configuration",
    };
  }
  if (input.peers !== undefined && input.peers.total > 0 && input.peers.reachable === 0) {
    return {
      state: "Inactive",
      reason: "Isolated",
      message:
        `the node reaches none of the other ${input.peers.total} nodes on the peer port; ` +
        "check the network policy and firewall between the nodes",
    };
  }

  const degraded: { reason: string; message: string }[] = [];
  if (input.credentialKeyLoaded === false) {
    degraded.push({
      reason: "CredentialKeyNotLoaded",
      message:
        "the agent has not loaded the gateway's credential key, so it cannot open encrypted credentials",
    });
  }
  if (input.managed && input.pod?.ready === false) {
    degraded.push({ reason: "PodNotReady", message: "the node's pod is running but not ready" });
  }
  if (input.peersReachable === false || (input.peers && input.peers.reachable < input.peers.total)) {
    degraded.push({
      reason: "PeersUnreachable",
      message: input.peers
        ? `the node reaches ${input.peers.reachable} of the other ${input.peers.total} nodes on the peer port`
        : "the node cannot reach some of the other nodes on the peer port",
    });
  }
  if (beat.futureSkewMs > MAX_CLOCK_SKEW_MS) {
    degraded.push({
      reason: "ClockSkew",
      message:
        `the node's clock is ${formatDuration(beat.futureSkewMs)} ahead of the operator's ` +
        `(more than ${MAX_CLOCK_SKEW_MS / 1000}s); synchronise it with NTP`,
    });
  }
  if (
    input.majorityVersion !== undefined &&
    input.version !== undefined &&
    input.version !== input.majorityVersion
  ) {
    degraded.push({
      reason: VERSION_MISMATCH,
      message: `the node runs version ${input.version}, the gateway's majority runs ${input.majorityVersion}`,
    });
  }
  const first = degraded[0];
  if (first !== undefined) {
    return { state: "Limited", reason: first.reason, message: degraded.map((d) => d.message).join("; ") };
  }
  return { state: "Online", reason: "Online", message: "the node is heartbeating and healthy" };
}
