/**
 * TLS material of a gateway's nodes. Managed mode keeps the gateway CA and one Secret per node,
 * written by the operator; CertManager mode asks cert-manager for the same Secret per node
 * through a Certificate, so the pod mounts `<node>-tls` either way.
 */
import { isIP } from "node:net";
import type { KubeObject, Secret } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { caSecretName, labels, nodeTlsSecretName } from "./names.ts";
import { controllerRef } from "./owner.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64");

/** The names a node's certificate carries (IP entries become IP SANs): how peers and probes address it. */
export function nodeDnsNames(node: string, namespace: string): string[] {
  return [node, `${node}.${namespace}`, `${node}.${namespace}.svc`, "localhost", "127.0.0.1"];
}

export interface CaMaterial {
  certPem: string;
  keyPem: string;
  /** Every CA certificate nodes must trust now (old and new while a rotation is under way). */
  bundlePem: string;
}

export function caSecret(
  gw: LogicalGateway,
  ca: CaMaterial,
  annotations: Record<string, string> = {},
): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: caSecretName(gw.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "tls"),
      annotations,
      ownerReferences: [controllerRef(gw)],
    },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(ca.certPem), "tls.key": b64(ca.keyPem), "ca.crt": b64(ca.bundlePem) },
  };
}

export function nodeTlsSecret(
  gw: LogicalGateway,
  node: GatewayNode,
  cert: { certPem: string; keyPem: string },
  bundlePem: string,
): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: nodeTlsSecretName(node.metadata.name),
      namespace: gw.metadata.namespace,
      labels: labels(gw.metadata.name, "tls", node.metadata.name),
      ownerReferences: [controllerRef(node)],
    },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(cert.certPem), "tls.key": b64(cert.keyPem), "ca.crt": b64(bundlePem) },
  };
}

export const CERT_MANAGER_API = "cert-manager.io/v1";

export interface Certificate extends KubeObject {
  spec: {
    secretName: string;
    commonName: string;
    dnsNames: string[];
    ipAddresses?: string[];
    usages: string[];
    duration?: string;
    renewBefore?: string;
    privateKey: { algorithm: string; size: number; rotationPolicy: string };
    issuerRef: { name: string; kind: string; group: string };
  };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export function nodeCertificate(gw: LogicalGateway, node: GatewayNode): Certificate {
  const issuer = gw.spec.tls?.issuerRef;
  if (!issuer) throw new Error("tls.issuerRef is required in CertManager mode");
  const namespace = gw.metadata.namespace ?? "default";
  return {
    apiVersion: CERT_MANAGER_API,
    kind: "Certificate",
    metadata: {
      name: nodeTlsSecretName(node.metadata.name),
      namespace,
      labels: labels(gw.metadata.name, "tls", node.metadata.name),
      ownerReferences: [controllerRef(node)],
    },
    spec: {
      secretName: nodeTlsSecretName(node.metadata.name),
      commonName: node.metadata.name,
      dnsNames: nodeDnsNames(node.metadata.name, namespace).filter((n) => !isIP(n)),
      ipAddresses: nodeDnsNames(node.metadata.name, namespace).filter((n) => isIP(n)),
      // Nodes are both servers and clients of each other's peer endpoint.
      usages: ["server auth", "client auth", "digital signature", "key encipherment"],
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      issuerRef: {
        name: issuer.name,
        kind: issuer.kind ?? "Issuer",
        group: issuer.group ?? "cert-manager.io",
      },
    },
  };
}
