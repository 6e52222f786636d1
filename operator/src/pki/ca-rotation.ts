import { X509Certificate } from "node:crypto";
import { elapsedMs, formatDuration, type Instant, instant } from "../policy/time.ts";
import { bundle, bundleContains, isIssuedBy } from "./trust.ts";

/**
 * Rotation of a gateway's own CA (spec.tls.mode Managed) as one explicit pipeline with named steps,
 * in the manner of Strimzi's CA renewal. Each call looks at what the Secrets hold and returns the
 * one step to take next:
 *
 *   Steady ─(CA in its last caRenewBeforeFraction, or rotation requested)→ CreateNextCa
 *   CreateNextCa       make CA B and keep it beside A in the CA Secret (next.crt / next.key);
 *                      A still signs everything.
 *   TrustBoth          trust bundle = A + B: the CA Secret's ca.crt and every node Secret's ca.crt.
 *   WaitForPropagation until the new bundle has reached every agent (mounted Secrets update with a
 *                      delay; agents reload on change).
 *   ReissueNodes       node certificates from B, while the bundle still trusts A.
 *   WaitForPropagation until every agent serves its new certificate.
 *   DropOldCa          B becomes the CA (tls.crt / tls.key), next.* go, bundle = B everywhere.
 *   Steady
 *
 * Why this order never breaks a running node: node-to-node TLS is mutual, so every certificate a
 * node presents must verify against the bundle every other node holds, at every instant.
 * - Before TrustBoth has reached everyone, only A certificates exist, and every bundle holds A.
 * - Adding B to bundles only adds trust: A certificates keep verifying, wherever a node is.
 * - B certificates appear only after every node holds (and has had time to load) A + B, so each
 *   peer accepts them; the A certificates not reissued yet are still accepted, A being trusted.
 * - A leaves the bundles only after every node holds a B certificate and has had time to load it,
 *   so by then nobody presents an A certificate.
 * A node created during a rotation gets the bundle in force and a certificate from `signWith`,
 * which is A until B is trusted everywhere and B after, so it never breaks the rule either.
 *
 * State. The Secrets' contents are the authority (is there a next CA, which bundles contain it,
 * which CA signed each node certificate): they cannot drift from themselves, and the step is
 * recomputed from scratch after an operator restart. The CA Secret's annotations add what contents
 * cannot say:
 *   ferry.dev/ca-rotation-step-at  when trust or certificates last changed (TrustBoth, ReissueNodes),
 *                                  the start of the propagation wait;
 *   ferry.dev/ca-rotation-phase    the step name, for people reading the Secret;
 *   ferry.dev/force-ca-rotation    set by a user to rotate now; removed by CreateNextCa.
 * Each action says which annotations to write (`annotations`, null meaning remove).
 *
 * The CA Secret (`<gw>-ca`, docs/architecture.md) holds tls.crt / tls.key (the CA in force), ca.crt
 * (the bundle) and, during a rotation only, next.crt / next.key (CA_SECRET_KEYS).
 */

export const CA_ROTATION_ANNOTATIONS = {
  stepAt: "ferry.dev/ca-rotation-step-at",
  phase: "ferry.dev/ca-rotation-phase",
  forceRotation: "ferry.dev/force-ca-rotation",
} as const;

export const CA_SECRET_KEYS = {
  cert: "tls.crt",
  key: "tls.key",
  bundle: "ca.crt",
  nextCert: "next.crt",
  nextKey: "next.key",
} as const;

export const DEFAULT_CA_RENEW_BEFORE_FRACTION = 1 / 3;
/**
 * Kubelet refreshes mounted Secrets within about a minute or two (sync period plus cache TTL); the
 * agent reloads its TLS files when they change. Five minutes covers both with room.
 */
export const DEFAULT_PROPAGATION_MS = 5 * 60_000;

export interface CaRotationNode {
  name: string;
  /** tls.crt of the node's Secret; undefined when not issued yet. */
  certPem?: string;
  /** ca.crt of the node's Secret. */
  trustBundlePem?: string;
}

export interface CaRotationInput {
  /** tls.crt of the CA Secret: the CA in force. */
  currentCaPem: string;
  /** next.crt of the CA Secret, during a rotation. */
  nextCaPem?: string;
  /** ca.crt of the CA Secret. */
  trustBundlePem: string;
  nodes: readonly CaRotationNode[];
  /** The ferry.dev/force-ca-rotation annotation is set. */
  rotationRequested?: boolean;
  /** The ferry.dev/ca-rotation-step-at annotation. */
  lastStepAt?: Instant;
  now: Date;
  caRenewBeforeFraction?: number;
  propagationMs?: number;
}

type Annotations = Record<string, string | null>;

interface Common {
  /** Which CA signs certificates issued now (new nodes, renewals): the one every node trusts. */
  signWith: "current" | "next";
  reason: string;
  message: string;
  /** Annotations to write on the CA Secret; null removes one. */
  annotations: Annotations;
}

export type CaRotationAction =
  | ({ action: "Steady"; renewAt: Date } & Common)
  | ({ action: "CreateNextCa" } & Common)
  /** Write bundlePem as ca.crt of the CA Secret and of the listed node Secrets. */
  | ({ action: "TrustBoth"; bundlePem: string; nodes: string[] } & Common)
  | ({ action: "WaitForPropagation"; until: Date } & Common)
  /** Issue certificates from the next CA for the listed nodes. */
  | ({ action: "ReissueNodes"; nodes: string[] } & Common)
  /** Move next.* to tls.*, write bundlePem as ca.crt of the CA Secret and of the listed nodes. */
  | ({ action: "DropOldCa"; bundlePem: string; nodes: string[] } & Common);

function caRenewAt(ca: X509Certificate, fraction: number): Date {
  const from = ca.validFromDate.getTime();
  const to = ca.validToDate.getTime();
  return new Date(to - (to - from) * fraction);
}

export function caRotationStep(input: CaRotationInput): CaRotationAction {
  const { now } = input;
  const current = new X509Certificate(input.currentCaPem);
  const fraction = input.caRenewBeforeFraction ?? DEFAULT_CA_RENEW_BEFORE_FRACTION;
  const propagationMs = input.propagationMs ?? DEFAULT_PROPAGATION_MS;
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  if (input.nextCaPem === undefined) {
    const renewAt = caRenewAt(current, fraction);
    const phase = (name: string) => ({ [CA_ROTATION_ANNOTATIONS.phase]: name });
    if (input.rotationRequested || now.getTime() >= renewAt.getTime()) {
      return {
        action: "CreateNextCa",
        signWith: "current",
        reason: input.rotationRequested ? "RotationRequested" : "CaExpiring",
        message: input.rotationRequested
          ? `CA rotation requested (${CA_ROTATION_ANNOTATIONS.forceRotation}): creating the next CA`
          : `the gateway CA expires ${current.validToDate.toISOString()}, in its last ${Math.round(fraction * 100)}% ` +
            "of life: creating the next CA",
        annotations: {
          ...phase("NextCaCreated"),
          [CA_ROTATION_ANNOTATIONS.forceRotation]: null,
          [CA_ROTATION_ANNOTATIONS.stepAt]: null,
        },
      };
    }
    return {
      action: "Steady",
      signWith: "current",
      renewAt,
      reason: "CaValid",
      message: `the gateway CA is valid until ${current.validToDate.toISOString()}; rotation from ${renewAt.toISOString()}`,
      annotations: {},
    };
  }

  const next = new X509Certificate(input.nextCaPem);
  const both = bundle([input.currentCaPem, input.nextCaPem]);
  const trustsBoth = (pem: string | undefined) =>
    bundleContains(pem, input.currentCaPem) && bundleContains(pem, input.nextCaPem!);
  const lacking = nodes.filter((n) => !trustsBoth(n.trustBundlePem)).map((n) => n.name);
  const stampNow = { [CA_ROTATION_ANNOTATIONS.stepAt]: now.toISOString() };

  if (!trustsBoth(input.trustBundlePem) || lacking.length > 0) {
    return {
      action: "TrustBoth",
      signWith: "current",
      bundlePem: both,
      nodes: lacking,
      reason: "DistributingTrust",
      message:
        `adding the next CA to the trust bundle of the CA Secret` +
        (lacking.length > 0 ? ` and of ${lacking.length} node Secrets (${lacking.join(", ")})` : ""),
      annotations: { ...stampNow, [CA_ROTATION_ANNOTATIONS.phase]: "TrustingBoth" },
    };
  }

  const stepAt = instant(input.lastStepAt);
  const onNext = nodes.filter((n) => n.certPem !== undefined && isIssuedBy(n.certPem, next));
  const notOnNext = nodes.filter((n) => !onNext.includes(n)).map((n) => n.name);
  const settled = stepAt !== undefined && elapsedMs(stepAt, now) >= propagationMs;
  // B may sign once every node has had time to load a bundle trusting it, or already holds a B
  // certificate (which it only got after that point).
  const signWith = settled || onNext.length > 0 ? "next" : "current";

  if (!settled) {
    const until = new Date((stepAt ?? now).getTime() + propagationMs);
    const what =
      onNext.length > 0 ? "the node certificates issued by the next CA" : "the bundle trusting both CAs";
    return {
      action: "WaitForPropagation",
      signWith,
      until,
      reason: "Propagating",
      message: `waiting until ${until.toISOString()} (${formatDuration(propagationMs)} after the last change) for ${what} to reach every agent`,
      // Without a recorded step time (lost annotation), start the wait now rather than skip it.
      annotations: stepAt === undefined ? stampNow : {},
    };
  }

  if (notOnNext.length > 0) {
    return {
      action: "ReissueNodes",
      signWith: "next",
      nodes: notOnNext,
      reason: "ReissuingNodes",
      message: `issuing ${notOnNext.length} node certificates from the next CA (${notOnNext.join(", ")}); both CAs stay trusted`,
      annotations: { ...stampNow, [CA_ROTATION_ANNOTATIONS.phase]: "ReissuingNodes" },
    };
  }

  return {
    action: "DropOldCa",
    signWith: "next",
    bundlePem: bundle([input.nextCaPem]),
    nodes: nodes.map((n) => n.name),
    reason: "RotationComplete",
    message:
      `every node certificate is issued by the next CA: it becomes the gateway CA (valid until ` +
      `${next.validToDate.toISOString()}) and the old one (serial ${current.serialNumber}) leaves the trust bundles`,
    annotations: { [CA_ROTATION_ANNOTATIONS.phase]: "Steady", [CA_ROTATION_ANNOTATIONS.stepAt]: null },
  };
}
