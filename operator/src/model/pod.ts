/**
 * The Pod of a managed node. The operator manages Pods directly, one per GatewayNode, rather
 * than through a StatefulSet or Deployment, for the same reasons as CloudNativePG: each node has
 * an identity of its own (name, certificate, heartbeat Lease, running jobs), a rolling update must
 * wait for that node's jobs to drain and for it to come Online before moving on, a failed update
 * is rolled back per node, and scale-in must remove a specific drained node — not the highest
 * ordinal. A StatefulSet's controller would make each of those decisions for us, wrongly.
 */
import { createHash } from "node:crypto";
import type { Container, Pod, Volume } from "@ferry/common";
import type { GatewayNode, LogicalGateway } from "@ferry/crds";
import { PRIVATE_KEY } from "./credential-key.ts";
import {
  ANNOTATION_AGENT_VERSION,
  agentServiceAccountName,
  credentialKeySecretName,
  labels,
  nodeTlsSecretName,
} from "./names.ts";
import { controllerRef } from "./owner.ts";

export interface PodContext {
  /** Image repository the operator was released with (`spec.agent.image` overrides it). */
  defaultImage: string;
  /** The operator's own version, the agent version when neither gateway nor node names one. */
  defaultVersion: string;
  /** Proxy variables of the operator's environment, passed on in proxy mode System. */
  systemProxy: { httpsProxy?: string; httpProxy?: string; noProxy?: string };
}

export const AGENT_PORT = 8443;
export const CREDENTIAL_KEY_DIR = "/var/run/ferry/credential-key";
export const TLS_DIR = "/var/run/ferry/tls";
export const ANNOTATION_POD_HASH = "ferry.dev/pod-spec-hash";
export const LABEL_VERSION = "ferry.dev/version";
const NONROOT = 65532;

export function nodeAgentVersion(gw: LogicalGateway, node: GatewayNode, ctx: PodContext): string {
  return (
    node.metadata.annotations?.[ANNOTATION_AGENT_VERSION] ?? gw.spec.agent?.version ?? ctx.defaultVersion
  );
}

function proxyEnv(gw: LogicalGateway, ctx: PodContext): Container["env"] {
  const proxy = gw.spec.proxy;
  const mode = proxy?.mode ?? "None";
  const env: NonNullable<Container["env"]> = [{ name: "FERRY_PROXY_MODE", value: mode }];
  const set = (name: string, value: string | undefined) => {
    if (value) env.push({ name, value });
  };
  if (mode === "Custom") {
    set("HTTPS_PROXY", proxy?.url);
    set("HTTP_PROXY", proxy?.url);
    set("NO_PROXY", proxy?.noProxy?.join(","));
    const secret = proxy?.credentialsSecretRef?.name;
    if (secret) {
      for (const [name, key] of [
        ["FERRY_PROXY_USERNAME", "username"],
        ["FERRY_PROXY_PASSWORD", "password"],
      ] as const) {
        env.push({ name, valueFrom: { secretKeyRef: { name: secret, key, optional: true } } });
      }
    }
  } else if (mode === "System") {
    set("HTTPS_PROXY", ctx.systemProxy.httpsProxy);
    set("HTTP_PROXY", ctx.systemProxy.httpProxy);
    set("NO_PROXY", ctx.systemProxy.noProxy);
  }
  return env;
}

/** The pod spec without its hash; `agentPod` adds the hash of exactly this. */
function desiredPod(gw: LogicalGateway, node: GatewayNode, ctx: PodContext): Pod {
  const gateway = gw.metadata.name;
  const name = node.metadata.name;
  const version = nodeAgentVersion(gw, node, ctx);
  const image = `${gw.spec.agent?.image ?? ctx.defaultImage}:${version}`;
  const tls = (gw.spec.tls?.mode ?? "Managed") !== "Disabled";
  const keySecret = gw.spec.credentialKey?.secretRef.name ?? credentialKeySecretName(gateway);
  const volumes: Volume[] = [
    {
      name: "credential-key",
      secret: { secretName: keySecret, defaultMode: 0o400, items: [{ key: PRIVATE_KEY, path: PRIVATE_KEY }] },
    },
  ];
  const mounts: NonNullable<Container["volumeMounts"]> = [
    { name: "credential-key", mountPath: CREDENTIAL_KEY_DIR, readOnly: true },
  ];
  if (tls) {
    volumes.push({ name: "tls", secret: { secretName: nodeTlsSecretName(name), defaultMode: 0o400 } });
    mounts.push({ name: "tls", mountPath: TLS_DIR, readOnly: true });
  }
  const resources = gw.spec.agent?.resources;
  const container: Container = {
    name: "agent",
    image,
    imagePullPolicy: "IfNotPresent",
    command: ["ferry-agent"],
    env: [
      { name: "FERRY_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "FERRY_GATEWAY", value: gateway },
      { name: "FERRY_NODE", value: name },
      { name: "FERRY_VERSION", value: version },
      { name: "FERRY_CREDENTIAL_KEY_DIR", value: CREDENTIAL_KEY_DIR },
      ...(tls ? [{ name: "FERRY_TLS_DIR", value: TLS_DIR }] : []),
      ...(proxyEnv(gw, ctx) ?? []),
      ...(gw.spec.agent?.env ?? []).map((e) => ({ name: e.name, value: e.value ?? "" })),
    ],
    ports: [{ name: "ops", containerPort: AGENT_PORT, protocol: "TCP" }],
    readinessProbe: {
      httpGet: { path: "/readyz", port: "ops", scheme: tls ? "HTTPS" : "HTTP" },
      periodSeconds: 5,
    },
    livenessProbe: {
      httpGet: { path: "/healthz", port: "ops", scheme: tls ? "HTTPS" : "HTTP" },
      periodSeconds: 10,
      failureThreshold: 6,
    },
    volumeMounts: mounts,
    // The `restricted` Pod Security Standard, container part.
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
  if (resources?.requests || resources?.limits) {
    container.resources = {
      ...(resources.requests
        ? { requests: { ...resources.requests } as Record<string, string | number> }
        : {}),
      ...(resources.limits ? { limits: { ...resources.limits } as Record<string, string | number> } : {}),
    };
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: gw.metadata.namespace,
      labels: { ...labels(gateway, "agent", name), [LABEL_VERSION]: version },
      ownerReferences: [controllerRef(node)],
    },
    spec: {
      serviceAccountName: agentServiceAccountName(gateway),
      automountServiceAccountToken: true,
      hostname: name,
      containers: [container],
      volumes,
      ...(gw.spec.agent?.nodeSelector ? { nodeSelector: gw.spec.agent.nodeSelector } : {}),
      ...(gw.spec.agent?.tolerations ? { tolerations: gw.spec.agent.tolerations } : {}),
      restartPolicy: "Always",
      // The agent drains on SIGTERM (finishes or hands back its jobs) within the drain timeout.
      terminationGracePeriodSeconds: (gw.spec.update?.drainTimeoutSeconds ?? 600) + 30,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: NONROOT,
        runAsGroup: NONROOT,
        fsGroup: NONROOT,
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
  };
}

/** A short digest of a pod's desired spec: a pod whose annotation differs is out of date. */
export function podSpecHash(pod: Pod): string {
  return createHash("sha256").update(JSON.stringify(pod.spec)).digest("hex").slice(0, 16);
}

export function agentPod(gw: LogicalGateway, node: GatewayNode, ctx: PodContext): Pod {
  const pod = desiredPod(gw, node, ctx);
  pod.metadata.annotations = { [ANNOTATION_POD_HASH]: podSpecHash(pod) };
  return pod;
}
