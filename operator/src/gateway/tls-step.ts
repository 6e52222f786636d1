/**
 * Step: node certificates. Managed mode runs the gateway's own CA and keeps one certificate per
 * node fresh; CertManager mode asks cert-manager for the same Secret; Disabled does nothing.
 */

import { isNotFound, type Secret } from "@ferry/common";
import type { GatewayNode } from "@ferry/crds";
import { caSecretName, nodeTlsSecretName } from "../model/names.ts";
import {
  CERT_MANAGER_API,
  type Certificate,
  caSecret,
  nodeCertificate,
  nodeDnsNames,
  nodeTlsSecret,
} from "../model/tls.ts";
import {
  CA_ROTATION_ANNOTATIONS as A,
  caRotationStep,
  createCa,
  issueNodeCertificate,
  CA_SECRET_KEYS as K,
  needsReissue,
} from "../pki/index.ts";
import {
  decode,
  FIELD_MANAGER,
  type GatewayContext,
  gatewayNodes,
  report,
  type StepOutcome,
} from "./context.ts";

export async function tlsStep(ctx: GatewayContext): Promise<StepOutcome> {
  const mode = ctx.gw.spec.tls?.mode ?? "Managed";
  if (mode === "Disabled") {
    report(ctx, "TLSReady", true, "Disabled", "node-to-node TLS is disabled (spec.tls.mode)");
    return undefined;
  }
  return mode === "CertManager" ? certManager(ctx) : managed(ctx);
}

interface CaState {
  cert: string;
  key: string;
  bundle: string;
  next?: { cert: string; key: string };
  annotations: Record<string, string>;
}

function readCa(stored: Secret): CaState {
  const d = (k: string) => decode(stored.data?.[k]) ?? "";
  const cert = d(K.cert);
  return {
    cert,
    key: d(K.key),
    bundle: d(K.bundle) || cert,
    ...(stored.data?.[K.nextCert] ? { next: { cert: d(K.nextCert), key: d(K.nextKey) } } : {}),
    annotations: { ...(stored.metadata.annotations ?? {}) },
  };
}

function caSecretOf(ctx: GatewayContext, ca: CaState): Secret {
  const secret = caSecret(ctx.gw, { certPem: ca.cert, keyPem: ca.key, bundlePem: ca.bundle }, ca.annotations);
  if (ca.next) {
    secret.data = { ...secret.data, [K.nextCert]: b64(ca.next.cert), [K.nextKey]: b64(ca.next.key) };
  }
  return secret;
}

const b64 = (text: string) => Buffer.from(text).toString("base64");

/**
 * Managed TLS: the gateway CA with its rotation pipeline (pki/ca-rotation.ts), then one fresh
 * certificate per node, signed by whichever CA every node trusts at this point of the pipeline.
 */
async function managed(ctx: GatewayContext): Promise<StepOutcome> {
  const { gw, kube, now, config } = ctx;
  const namespace = gw.metadata.namespace ?? "default";
  const caName = caSecretName(gw.metadata.name);
  const stored = ctx.caches.secrets.get(namespace, caName);
  let ca: CaState;
  if (!stored) {
    const created = await createCa({
      commonName: `ferry-${gw.metadata.name}-ca`,
      now,
      validityDays: config.caDays,
    });
    ca = { cert: created.certPem, key: created.keyPem, bundle: created.certPem, annotations: {} };
    await kube.apply(caSecretOf(ctx, ca), FIELD_MANAGER);
    await ctx.events.event(gw, "Normal", "CaCreated", `gateway CA created in Secret ${caName}`);
  } else {
    ca = readCa(stored);
  }

  const nodes = gatewayNodes(ctx);
  const nodeSecret = (node: GatewayNode) =>
    ctx.caches.secrets.get(namespace, nodeTlsSecretName(node.metadata.name));
  const action = caRotationStep({
    currentCaPem: ca.cert,
    ...(ca.next ? { nextCaPem: ca.next.cert } : {}),
    trustBundlePem: ca.bundle,
    nodes: nodes.map((n) => {
      const secret = nodeSecret(n);
      const certPem = decode(secret?.data?.["tls.crt"]);
      const trustBundlePem = decode(secret?.data?.["ca.crt"]);
      return {
        name: n.metadata.name,
        ...(certPem ? { certPem } : {}),
        ...(trustBundlePem ? { trustBundlePem } : {}),
      };
    }),
    rotationRequested: ca.annotations[A.forceRotation] !== undefined,
    ...(ca.annotations[A.stepAt] ? { lastStepAt: ca.annotations[A.stepAt] } : {}),
    now,
    propagationMs: config.caPropagationMs,
  });
  const forced = new Set<string>();
  switch (action.action) {
    case "CreateNextCa": {
      const next = await createCa({
        commonName: `ferry-${gw.metadata.name}-ca`,
        now,
        validityDays: config.caDays,
      });
      ca.next = { cert: next.certPem, key: next.keyPem };
      break;
    }
    case "TrustBoth":
      ca.bundle = action.bundlePem;
      break;
    case "ReissueNodes":
      for (const node of action.nodes) forced.add(node);
      break;
    case "DropOldCa":
      if (ca.next) {
        ca.cert = ca.next.cert;
        ca.key = ca.next.key;
        delete ca.next;
      }
      ca.bundle = action.bundlePem;
      break;
  }
  for (const [k, v] of Object.entries(action.annotations)) {
    if (v === null) delete ca.annotations[k];
    else ca.annotations[k] = v;
  }
  if (action.action !== "Steady" && action.action !== "WaitForPropagation") {
    await kube.apply(caSecretOf(ctx, ca), FIELD_MANAGER);
    // Annotations set by someone else (a user's force-ca-rotation) are not ours to drop by
    // leaving them out of an apply: remove them explicitly, or the rotation would restart.
    const removed = Object.entries(action.annotations).filter(([, v]) => v === null);
    if (removed.length > 0) {
      await kube.mergePatch(
        { apiVersion: "v1", kind: "Secret", namespace, name: caName },
        { metadata: { annotations: Object.fromEntries(removed) } },
      );
    }
    await ctx.events.event(gw, "Normal", `CaRotation${action.action}`, action.message);
  }

  const signer =
    action.signWith === "next" && ca.next
      ? { certPem: ca.next.cert, keyPem: ca.next.key }
      : { certPem: ca.cert, keyPem: ca.key };
  let issued = 0;
  for (const node of nodes) {
    const stored = nodeSecret(node);
    const dnsNames = nodeDnsNames(node.metadata.name, namespace);
    const decision = needsReissue({
      certPem: decode(stored?.data?.["tls.crt"]),
      keyPem: decode(stored?.data?.["tls.key"]),
      caBundlePem: ca.bundle,
      expectedDnsNames: dnsNames,
      now,
    });
    const reissue = decision.reissue || forced.has(node.metadata.name);
    const bundleChanged = stored !== undefined && decode(stored.data?.["ca.crt"]) !== ca.bundle;
    if (!reissue && !bundleChanged) continue;
    const cert = reissue
      ? await issueNodeCertificate({
          ca: signer,
          dnsNames,
          commonName: node.metadata.name,
          now,
          validityDays: config.nodeCertificateDays,
        })
      : { certPem: decode(stored?.data?.["tls.crt"]) ?? "", keyPem: decode(stored?.data?.["tls.key"]) ?? "" };
    await kube.apply(nodeTlsSecret(gw, node, cert, ca.bundle), FIELD_MANAGER);
    issued++;
    if (reissue) {
      const why = forced.has(node.metadata.name) ? "CaRotation" : decision.reason;
      await ctx.events.event(
        node,
        "Normal",
        "CertificateIssued",
        `node certificate issued (${why}) in Secret ${nodeTlsSecretName(node.metadata.name)}`,
      );
    }
  }
  report(ctx, "TLSReady", true, "Managed", `node certificates issued by the gateway CA; ${action.message}`);
  if (action.action === "WaitForPropagation") {
    return undefined;
  }
  return issued > 0 || action.action !== "Steady"
    ? { requeueAfterMs: 1_000, reason: "TlsProgress" }
    : undefined;
}

async function certManager(ctx: GatewayContext): Promise<StepOutcome> {
  const { gw, kube } = ctx;
  const nodes: GatewayNode[] = gatewayNodes(ctx);
  const notReady: string[] = [];
  for (const node of nodes) {
    try {
      await kube.apply(nodeCertificate(gw, node), FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) {
        report(
          ctx,
          "TLSReady",
          false,
          "CertManagerNotInstalled",
          "spec.tls.mode is CertManager but the cert-manager.io/v1 Certificate API is not installed",
        );
        return { requeueAfterMs: 30_000, reason: "CertManagerNotInstalled" };
      }
      throw err;
    }
    const cert = await kube.get<Certificate>({
      apiVersion: CERT_MANAGER_API,
      kind: "Certificate",
      namespace: gw.metadata.namespace,
      name: nodeTlsSecretName(node.metadata.name),
    });
    if (!cert?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      notReady.push(node.metadata.name);
  }
  if (notReady.length > 0) {
    report(
      ctx,
      "TLSReady",
      false,
      "CertificatesPending",
      `waiting for cert-manager to issue certificates of ${notReady.join(", ")}`,
    );
    return undefined;
  }
  report(
    ctx,
    "TLSReady",
    true,
    "CertManager",
    `node certificates issued by ${gw.spec.tls?.issuerRef?.kind ?? "Issuer"} ${gw.spec.tls?.issuerRef?.name}`,
  );
  return undefined;
}
