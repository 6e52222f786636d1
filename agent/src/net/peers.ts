/**
 * Peer checks: this node calls `GET /peer` on every other node of its gateway over mutual TLS, and
 * the result becomes the GatewayNode condition `PeersReachable`, from which the operator marks
 * nodes Limited (some peers unreachable) or Inactive (none).
 *
 * A peer counts as reachable only when it presents a certificate issued by the gateway's bundle
 * for its own node name (checked against the name, not the URL's host: peers are addressed by pod
 * IP, which a renewed pod changes), accepts this node's certificate, and says it is that node.
 *
 * Probes connect directly, never through the outbound proxy: node-to-node traffic stays on the
 * nodes' network. The TLS files are read on every round, so a rotation is followed.
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import type { ConditionUpdate } from "@ferry/common/runtime";
import type { PeerInfo } from "./peer-server.ts";
import { readTlsDir, type TlsMaterial } from "./tls-files.ts";

export interface PeerTarget {
  node: string;
  /** The peer endpoint, such as https://10.244.0.7:8443 (peer-endpoint.ts). */
  url: string;
}

export interface UnreachablePeer {
  node: string;
  /** CamelCase: ConnectionRefused, Timeout, CertificateUntrusted, CertificateNameMismatch, ... */
  reason: string;
  message: string;
}

export interface PeerProbeResult {
  reachable: number;
  total: number;
  unreachable: UnreachablePeer[];
}

export interface ProbePeersOptions {
  peers: readonly PeerTarget[];
  /** FERRY_TLS_DIR; undefined when TLS is Disabled (plain HTTP probes). */
  tlsDir?: string;
  timeoutMs?: number;
}

export const DEFAULT_PEER_TIMEOUT_MS = 3_000;
export const PEERS_REACHABLE = "PeersReachable";

/** A CamelCase reason for a failed probe, from the error Node gives. */
export function probeFailureReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code ?? "";
  switch (code) {
    case "ECONNREFUSED":
      return "ConnectionRefused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "NameNotResolved";
    case "ETIMEDOUT":
    case "PeerTimeout":
      return "Timeout";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "HostUnreachable";
    case "ECONNRESET":
    case "EPIPE":
      return "ConnectionReset";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "CertificateNameMismatch";
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return "CertificateExpired";
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_SIGNATURE_FAILURE":
      return "CertificateUntrusted";
    default:
      // The server refusing this node's client certificate arrives as a TLS alert.
      if (/^ERR_SSL_.*(ALERT|CERTIFICATE)/.test(code)) return "ClientCertificateRejected";
      return "ProbeFailed";
  }
}

interface ProbeMaterial {
  tls?: TlsMaterial;
}

function probeOne(
  peer: PeerTarget,
  material: ProbeMaterial,
  timeoutMs: number,
): Promise<UnreachablePeer | undefined> {
  let url: URL;
  try {
    url = new URL("/peer", peer.url);
  } catch {
    return Promise.resolve({
      node: peer.node,
      reason: "InvalidEndpoint",
      message: `the endpoint "${peer.url}" is not a URL`,
    });
  }
  const secure = url.protocol === "https:";
  if (secure && !material.tls) {
    return Promise.resolve({
      node: peer.node,
      reason: "TlsMismatch",
      message: `${peer.node} serves TLS (${peer.url}) but this node has no certificate (TLS Disabled here)`,
    });
  }
  const fail = (reason: string, message: string): UnreachablePeer => ({ node: peer.node, reason, message });
  return new Promise((resolve) => {
    const options: https.RequestOptions = {
      method: "GET",
      agent: false,
      timeout: timeoutMs,
      headers: { Accept: "application/json" },
      ...(secure && material.tls
        ? {
            cert: material.tls.cert,
            key: material.tls.key,
            ca: material.tls.ca,
            servername: peer.node,
            // The identity is the node name (a DNS SAN of every node certificate), not the URL host.
            checkServerIdentity: (_host: string, cert: tls.PeerCertificate) =>
              tls.checkServerIdentity(peer.node, cert),
          }
        : {}),
    };
    const req = (secure ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) => resolve(fail(probeFailureReason(err), `${peer.node}: ${err.message}`)));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 401 || res.statusCode === 403) {
          return resolve(
            fail("ClientCertificateRejected", `${peer.node} refused this node's certificate: ${text.trim()}`),
          );
        }
        if (res.statusCode !== 200) {
          return resolve(fail("UnexpectedResponse", `${peer.node} answered ${res.statusCode} on /peer`));
        }
        let info: Partial<PeerInfo>;
        try {
          info = JSON.parse(text) as PeerInfo;
        } catch {
          return resolve(
            fail("UnexpectedResponse", `${peer.node} answered /peer with something that is not JSON`),
          );
        }
        if (info.node !== peer.node) {
          return resolve(fail("WrongNode", `${peer.url} is node ${String(info.node)}, not ${peer.node}`));
        }
        resolve(undefined);
      });
    });
    req.on("timeout", () => {
      const err = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "PeerTimeout" });
      req.destroy(err);
    });
    req.on("error", (err: NodeJS.ErrnoException) =>
      resolve(
        fail(
          probeFailureReason(err),
          `${peer.node} (${peer.url}): ${err.code ? `${err.code}: ` : ""}${err.message}`,
        ),
      ),
    );
    req.end();
  });
}

/** Probes every peer at once; never throws for a peer's failure. */
export async function probePeers(options: ProbePeersOptions): Promise<PeerProbeResult> {
  const material: ProbeMaterial = options.tlsDir ? { tls: await readTlsDir(options.tlsDir) } : {};
  const timeoutMs = options.timeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  const results = await Promise.all(options.peers.map((p) => probeOne(p, material, timeoutMs)));
  const unreachable = results.filter((r): r is UnreachablePeer => r !== undefined);
  return { reachable: options.peers.length - unreachable.length, total: options.peers.length, unreachable };
}

const MAX_LISTED = 5;

/**
 * The `PeersReachable` condition for a probe round (undefined: not probed yet). Reasons:
 * AllPeersReachable (True), SomePeersUnreachable and NoPeersReachable (False; the operator makes
 * the node Limited or Inactive), NoPeers and NotProbed (Unknown: a single-node gateway has
 * nothing to check, and Unknown does not degrade a node).
 */
export function peersReachableCondition(result: PeerProbeResult | undefined): ConditionUpdate {
  if (result === undefined) {
    return {
      type: PEERS_REACHABLE,
      status: "Unknown",
      reason: "NotProbed",
      message: "the peers have not been probed yet",
    };
  }
  if (result.total === 0) {
    return {
      type: PEERS_REACHABLE,
      status: "Unknown",
      reason: "NoPeers",
      message: "the gateway has no other node to reach",
    };
  }
  if (result.unreachable.length === 0) {
    return {
      type: PEERS_REACHABLE,
      status: "True",
      reason: "AllPeersReachable",
      message: `the node reaches all ${result.total} other nodes on the peer port`,
    };
  }
  const listed = result.unreachable
    .slice(0, MAX_LISTED)
    .map((u) => `${u.node} (${u.reason})`)
    .join(", ");
  const more =
    result.unreachable.length > MAX_LISTED ? ` and ${result.unreachable.length - MAX_LISTED} more` : "";
  return {
    type: PEERS_REACHABLE,
    status: "False",
    reason: result.reachable === 0 ? "NoPeersReachable" : "SomePeersUnreachable",
    message:
      `the node reaches ${result.reachable} of the other ${result.total} nodes on the peer port; ` +
      `unreachable: ${listed}${more}; check the network between the nodes and their certificates`,
  };
}
