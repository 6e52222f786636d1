/**
 * How nodes find each other: each agent publishes its peer endpoint as the annotation
 * `ferry.dev/peer-endpoint` on its own heartbeat Lease `ferry-node-<node>`.
 *
 * The Lease because the agent owns it (it creates and renews it; the Role allows that), every node
 * of the gateway already lists or watches these Leases to see who is alive, and a node whose Lease
 * expired is exactly one not worth probing. An annotation on the GatewayNode would need another
 * write path (the operator owns its metadata for managed nodes) and a Service per node does not
 * exist for external nodes.
 *
 * The host is the pod IP in a pod (FERRY_POD_IP, or the first non-loopback address), a host name
 * or IP given on the command line for an external node. Peers are verified by node name, not by
 * this host (peers.ts), so an IP is fine.
 */

import { isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import type { Lease } from "@ferry/common";
import { LABEL_NODE } from "@ferry/common";

export const PEER_ENDPOINT_ANNOTATION = "ferry.dev/peer-endpoint";
export { LABEL_NODE as NODE_LABEL } from "@ferry/common";

const NODE_LABEL = LABEL_NODE;
/** The operator's default (operator/src/model/pod.ts AGENT_PORT). */
export const DEFAULT_PEER_PORT = 8443;
/** Like the operator's node-state: a lease this long past expiry is still live (clock skew). */
const LEASE_GRACE_MS = 5_000;
const DEFAULT_LEASE_DURATION_SECONDS = 15;

export function peerEndpointUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? "https" : "http"}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** This machine's address for peers: the first non-internal IPv4, else IPv6, else loopback. */
export function defaultPeerHost(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.FERRY_POD_IP) return env.FERRY_POD_IP;
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal);
  return (
    (addresses.find((a) => a.family === "IPv4") ?? addresses.find((a) => a.family === "IPv6"))?.address ??
    "127.0.0.1"
  );
}

/** The metadata patch the heartbeat adds to its Lease (with create and renewals alike). */
export function peerEndpointAnnotation(url: string): Record<string, string> {
  return { [PEER_ENDPOINT_ANNOTATION]: url };
}

/**
 * The peers to probe, from the gateway's node Leases: every other node whose Lease is live and
 * carries an endpoint, sorted by node name. Pure; the node name is the `ferry.dev/node` label,
 * else the holder identity.
 */
export function peerEndpointsFromLeases(
  leases: readonly Lease[],
  options: { self: string; now: Date },
): { node: string; url: string }[] {
  const peers: { node: string; url: string }[] = [];
  for (const lease of leases) {
    const node = lease.metadata.labels?.[NODE_LABEL] ?? lease.spec.holderIdentity ?? undefined;
    const url = lease.metadata.annotations?.[PEER_ENDPOINT_ANNOTATION];
    if (!node || !url || node === options.self) continue;
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : Number.NaN;
    const duration = (lease.spec.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS) * 1000;
    if (!(options.now.getTime() - renewed <= duration + LEASE_GRACE_MS)) continue;
    peers.push({ node, url });
  }
  return peers.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
