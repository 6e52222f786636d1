/**
 * Stands in for an agent until the agent exists: renews the node's heartbeat Lease and writes the
 * figures an agent reports into GatewayNode.status, with the agent's field manager, exactly as
 * docs/architecture.md says the agent does.
 */
import type { Kube, Lease, Pod } from "@ferry/common";
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

/**
 * Plays the agent inside the node's pod: beats only while the pod exists and is not being
 * deleted, reports the version of the pod's image tag, and never comes up on a tag "broken".
 */
export function podAgentStandIn(kube: Kube, namespace: string, gateway: string, node: string): StandIn {
  const standIn = standInNode(
    kube,
    namespace,
    gateway,
    node,
    { version: "" },
    {
      before: async (report) => {
        const pod = await kube.get<Pod>({ apiVersion: "v1", kind: "Pod", namespace, name: node });
        const tag = pod?.spec.containers[0]?.image.split(":")[1];
        if (
          !pod ||
          pod.metadata.deletionTimestamp ||
          pod.status?.phase !== "Running" ||
          !tag ||
          tag === "broken"
        ) {
          return false;
        }
        report({ version: tag });
        return true;
      },
    },
  );
  return standIn;
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
    before,
  }: {
    everyMs?: number;
    leaseSeconds?: number;
    /** Runs before each beat; false skips the beat (the agent is down). */
    before?: (report: (values: Partial<Reported>) => void) => Promise<boolean>;
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
    if (before && !(await before((values) => (reported = { ...reported, ...values })))) return;
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
