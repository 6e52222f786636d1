/**
 * Writes what an agent reports (the heartbeat Lease, GatewayNode.status figures) with the agent's
 * field manager, as docs/architecture.md says the agent does. Tests whose subject is the
 * operator's reading of those reports use it to set them exactly: a heartbeat that stops at a
 * chosen moment, a CPU figure of 97%. Tests of behaviour that needs agents to run (rolling
 * updates) use real agents on the process node (`agentsOnProcessNode` in @ferry/hack/testing).
 */
import type { Kube, Lease } from "@ferry/common";
import { isNotFound } from "@ferry/common";
import { applyStatus } from "@ferry/common/runtime";
import { LABEL_GATEWAY, LABEL_NODE, LABEL_PART_OF, labels, nodeLeaseName } from "../../src/model/names.ts";

export interface Reported {
  version: string;
  running?: number;
  limit?: number;
  cpuPercent?: number;
  availableMemoryBytes?: number;
  credentialKeyLoaded?: boolean;
}

export interface StandIn {
  report(values: Partial<Reported>): void;
  /** Stops heartbeating (the node "dies"): the Lease is left to expire. */
  stop(): void;
}

const micro = (d: Date) => d.toISOString().replace("Z", "000Z");

export function standInNode(
  kube: Kube,
  namespace: string,
  gateway: string,
  node: string,
  initial: Reported,
  {
    everyMs = 1_000,
    leaseSeconds = 4,
  }: {
    everyMs?: number;
    leaseSeconds?: number;
  } = {},
): StandIn {
  let reported: Reported = { credentialKeyLoaded: true, ...initial };
  let stopped = false;
  const leaseRef = {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace,
    name: nodeLeaseName(node),
  };
  const beat = async () => {
    const now = new Date();
    const lease: Lease = {
      apiVersion: leaseRef.apiVersion,
      kind: leaseRef.kind,
      metadata: {
        name: leaseRef.name,
        namespace,
        labels: {
          ...labels(gateway, "node-lease", node),
          [LABEL_PART_OF]: "ferry",
          [LABEL_GATEWAY]: gateway,
          [LABEL_NODE]: node,
        },
      },
      spec: { holderIdentity: node, leaseDurationSeconds: leaseSeconds, renewTime: micro(now) },
    };
    await kube.apply(lease, "ferry-agent");
    try {
      await applyStatus(
        kube,
        { apiVersion: "ferry.dev/v1alpha1", kind: "GatewayNode", namespace, name: node },
        "ferry-agent",
        {
          version: reported.version,
          role: "Worker",
          lastHeartbeatTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
          jobs: { running: reported.running ?? 0, limit: reported.limit ?? 4 },
          resources: {
            cpuPercent: reported.cpuPercent ?? 5,
            availableMemoryBytes: reported.availableMemoryBytes ?? 8 * 1024 ** 3,
            networkInBytesPerSecond: 0,
            networkOutBytesPerSecond: 0,
          },
          conditions: [
            {
              type: "CredentialKeyLoaded",
              status: reported.credentialKeyLoaded ? "True" : "False",
              reason: reported.credentialKeyLoaded ? "Loaded" : "Missing",
              message: "stand-in agent",
              lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
            },
          ],
        },
        { now },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
  const loop = async () => {
    while (!stopped) {
      // A failed beat is a missed heartbeat, as for a real agent; the test sees it as state.
      await beat().catch((err) => {
        if (process.env.FERRY_DEBUG) console.error("stand-in heartbeat failed", err);
      });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  void loop();
  return {
    report(values) {
      reported = { ...reported, ...values };
    },
    stop() {
      stopped = true;
    },
  };
}
