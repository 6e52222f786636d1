import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { formatDuration } from "../policy/time.ts";
import { certificateInfo } from "./ca.ts";
import { isIssuedBy, parseBundle } from "./trust.ts";

/**
 * Does a node's certificate need issuing again? cert-manager's shape: gather what the Secret holds
 * once (parse the certificate and key, find the CA that issued it, read its names), then run an
 * ordered chain of small policies; the first that objects decides the reason. The order puts what
 * makes the Secret unusable first, so the reason names the real problem:
 *
 *   Missing        no certificate or no key
 *   Invalid        the certificate or key does not parse, or the key is not the certificate's
 *   IssuerChanged  no CA of the trust bundle signed it (checked by signature, not by name: every
 *                  rotation of a gateway's CA has the same name)
 *   NamesChanged   its DNS and IP names differ from the expected ones (order and case ignored)
 *   Expiring       within the last renewBeforeFraction of its lifetime (default one third, as
 *                  cert-manager's default 90 days / 30 days before), or expired
 *   Valid          none of the above; renewAt says when to look again
 *
 * During a CA rotation both CAs are in the bundle, so certificates of the old CA stay Valid here;
 * moving them to the new CA is the rotation's job (ca-rotation.ts), which keeps the two from
 * fighting.
 */

export type ReissueReason = "Missing" | "Invalid" | "IssuerChanged" | "NamesChanged" | "Expiring" | "Valid";

export const DEFAULT_RENEW_BEFORE_FRACTION = 1 / 3;

export interface ReissueInput {
  certPem?: string | undefined;
  keyPem?: string | undefined;
  /** The CA certificates nodes trust now (ca.crt of the gateway's CA Secret). */
  caBundlePem: string;
  /** DNS names and IP addresses the certificate must carry. */
  expectedDnsNames: readonly string[];
  now: Date;
  renewBeforeFraction?: number;
}

export interface ReissueDecision {
  reissue: boolean;
  reason: ReissueReason;
  message: string;
  /** With Valid: when the certificate enters its renewal period, for a requeue. */
  renewAt?: Date;
}

/** Everything the policies look at, read once from the Secret's contents. */
interface Gathered {
  input: ReissueInput;
  cert?: X509Certificate;
  key?: KeyObject;
  parseError?: string;
  names?: string[];
}

type Policy = (g: Gathered) => ReissueDecision | undefined;

function gather(input: ReissueInput): Gathered {
  const g: Gathered = { input };
  if (!input.certPem || !input.keyPem) return g;
  try {
    g.cert = new X509Certificate(input.certPem);
    const info = certificateInfo(input.certPem);
    g.names = [...info.dnsNames, ...info.ipAddresses];
  } catch {
    g.parseError = "the certificate does not parse";
    return g;
  }
  try {
    g.key = createPrivateKey(input.keyPem);
  } catch {
    g.parseError = "the private key does not parse";
  }
  return g;
}

const normalise = (names: readonly string[]) => [...new Set(names.map((n) => n.trim().toLowerCase()))].sort();

const reissue = (reason: ReissueReason, message: string): ReissueDecision => ({
  reissue: true,
  reason,
  message,
});

const missing: Policy = ({ input }) => {
  if (!input.certPem && !input.keyPem) return reissue("Missing", "no certificate and no key yet");
  if (!input.certPem) return reissue("Missing", "the Secret has a key but no certificate");
  if (!input.keyPem) return reissue("Missing", "the Secret has a certificate but no key");
  return undefined;
};

const invalid: Policy = ({ cert, key, parseError }) => {
  if (parseError !== undefined) return reissue("Invalid", parseError);
  if (cert && key && !cert.checkPrivateKey(key)) {
    return reissue("Invalid", "the private key does not belong to the certificate");
  }
  return undefined;
};

const issuerChanged: Policy = ({ cert, input }) => {
  const cas = parseBundle(input.caBundlePem);
  if (cert && !cas.some((ca) => isIssuedBy(cert, ca))) {
    return reissue(
      "IssuerChanged",
      `no CA of the trust bundle (${cas.length} certificates) signed the certificate (issuer ${cert.issuer.trim()})`,
    );
  }
  return undefined;
};

const namesChanged: Policy = ({ names, input }) => {
  const have = normalise(names ?? []);
  const want = normalise(input.expectedDnsNames);
  if (have.join(",") !== want.join(",")) {
    const added = want.filter((n) => !have.includes(n));
    const removed = have.filter((n) => !want.includes(n));
    return reissue(
      "NamesChanged",
      `the certificate's names differ from the expected ones (missing: ${added.join(", ") || "none"}; ` +
        `extra: ${removed.join(", ") || "none"})`,
    );
  }
  return undefined;
};

function renewAt(cert: X509Certificate, fraction: number): Date {
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  return new Date(to - (to - from) * fraction);
}

const expiring: Policy = ({ cert, input }) => {
  if (!cert) return undefined;
  const fraction = input.renewBeforeFraction ?? DEFAULT_RENEW_BEFORE_FRACTION;
  const at = renewAt(cert, fraction);
  const left = cert.validToDate.getTime() - input.now.getTime();
  if (left <= 0) return reissue("Expiring", `the certificate expired ${formatDuration(-left)} ago`);
  if (input.now.getTime() >= at.getTime()) {
    return reissue(
      "Expiring",
      `the certificate expires in ${formatDuration(left)} (${cert.validToDate.toISOString()}), ` +
        `within the last ${Math.round(fraction * 100)}% of its lifetime`,
    );
  }
  return undefined;
};

/** The chain, in order; exported so a test can check the order is the documented one. */
export const REISSUE_POLICIES: readonly (readonly [ReissueReason, Policy])[] = [
  ["Missing", missing],
  ["Invalid", invalid],
  ["IssuerChanged", issuerChanged],
  ["NamesChanged", namesChanged],
  ["Expiring", expiring],
];

export function needsReissue(input: ReissueInput): ReissueDecision {
  const gathered = gather(input);
  for (const [, policy] of REISSUE_POLICIES) {
    const decision = policy(gathered);
    if (decision) return decision;
  }
  const cert = gathered.cert!;
  const at = renewAt(cert, input.renewBeforeFraction ?? DEFAULT_RENEW_BEFORE_FRACTION);
  return {
    reissue: false,
    reason: "Valid",
    message: `the certificate is valid until ${cert.validToDate.toISOString()}; renewal from ${at.toISOString()}`,
    renewAt: at,
  };
}
