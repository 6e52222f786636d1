/**
 * The agent's half of GatewayNode.status (docs/architecture.md, "Status ownership"), built by a pure
 * function and written with server-side apply as `ferry-agent` (applyStatus skips a write that
 * would change nothing).
 */

import { metaTime } from "@ferry/common/runtime";
import type { Condition, GatewayNodeStatus, NodeResourceUsage } from "@ferry/crds";

export interface NodeReport {
  version: string;
  dispatcher: boolean;
  resources: NodeResourceUsage;
  running: number;
  limit: number;
  podName?: string;
  hostName: string;
  credentialKeyLoaded: boolean;
  /** undefined: peers were not probed (no peer support in this build). */
  peersReachable?: { reachable: number; total: number };
}

export function agentNodeStatus(report: NodeReport, now: Date): GatewayNodeStatus {
  const t = metaTime(now);
  const conditions: Condition[] = [
    report.credentialKeyLoaded
      ? {
          type: "CredentialKeyLoaded",
          status: "True",
          reason: "Loaded",
          message: "the gateway's credential key is loaded",
          lastTransitionTime: t,
        }
      : {
          type: "CredentialKeyLoaded",
          status: "False",
          reason: "KeyNotFound",
          message:
            "the gateway's credential key could not be read; encrypted DataStore credentials cannot be opened",
          lastTransitionTime: t,
        },
  ];
  const peers = report.peersReachable;
  if (!peers) {
    conditions.push({
      type: "PeersReachable",
      status: "Unknown",
      reason: "NotProbed",
      message: "peer probing is not available in this agent",
      lastTransitionTime: t,
    });
  } else if (peers.total === 0) {
    conditions.push({
      type: "PeersReachable",
      status: "Unknown",
      reason: "NoPeers",
      message: "no other live node of the gateway publishes an endpoint to probe",
      lastTransitionTime: t,
    });
  } else if (peers.reachable === peers.total) {
    conditions.push({
      type: "PeersReachable",
      status: "True",
      reason: "AllReachable",
      message: `${peers.reachable}/${peers.total} peers reachable`,
      lastTransitionTime: t,
    });
  } else {
    conditions.push({
      type: "PeersReachable",
      status: "False",
      reason: "PeersUnreachable",
      message: `${peers.reachable}/${peers.total} peers reachable`,
      lastTransitionTime: t,
    });
  }
  return {
    version: report.version,
    role: report.dispatcher ? "Dispatcher" : "Worker",
    lastHeartbeatTime: t,
    resources: report.resources,
    jobs: { running: report.running, limit: report.limit },
    ...(report.podName ? { podName: report.podName } : {}),
    hostName: report.hostName,
    conditions,
  };
}
