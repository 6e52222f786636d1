import { X509Certificate } from "node:crypto";

/**
 * Trust bundles and "who issued this certificate". Synchronous (node:crypto's X509Certificate, which
 * verifies with OpenSSL) so that the decisions built on them (renewal.ts, ca-rotation.ts) stay plain
 * functions; @peculiar/x509 (ca.ts) is only needed to create certificates.
 */

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The CERTIFICATE blocks of a PEM bundle, in order; anything else (keys, text) is skipped. */
export function splitPemBundle(pem: string | undefined): string[] {
  return pem?.match(PEM_BLOCK)?.map((block) => `${block}\n`) ?? [];
}

function parse(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** Every certificate of a bundle that parses. */
export function parseBundle(pem: string | undefined): X509Certificate[] {
  return splitPemBundle(pem).flatMap((block) => parse(block) ?? []);
}

/**
 * One PEM trust bundle from several certificates or bundles: normalised, in order, each certificate
 * once (by SHA-256 fingerprint), unparseable blocks dropped. The order is kept so that a bundle
 * written twice from the same inputs is byte-identical and the Secret is not rewritten.
 */
export function bundle(pems: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const cert of pems.flatMap(parseBundle)) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    out.push(cert.toString());
  }
  return out.join("");
}

/** Whether the bundle contains this very certificate (same fingerprint). */
export function bundleContains(bundlePem: string | undefined, certPem: string): boolean {
  const wanted = parse(certPem)?.fingerprint256;
  return wanted !== undefined && parseBundle(bundlePem).some((c) => c.fingerprint256 === wanted);
}

/**
 * Whether `ca` issued `cert`: `ca` is a CA, its subject (and key identifier, when present) is the
 * certificate's issuer, and — the part that matters — its public key verifies the certificate's
 * signature. Two CAs with the same name (every rotation of one gateway's CA has the same name) are
 * told apart by the signature, not the name. Validity dates are not checked here.
 */
export function isIssuedBy(cert: string | X509Certificate, ca: string | X509Certificate): boolean {
  const c = typeof cert === "string" ? parse(cert) : cert;
  const a = typeof ca === "string" ? parse(ca) : ca;
  if (c === undefined || a === undefined || !a.ca) return false;
  try {
    return c.checkIssued(a) && c.verify(a.publicKey);
  } catch {
    return false;
  }
}

/**
 * The certificate of the bundle that issued `cert` and is valid at `now`, along with `cert` itself;
 * undefined when no CA of the bundle vouches for it at that time.
 */
export function trustedIssuer(
  cert: string | X509Certificate,
  bundlePem: string | undefined,
  now: Date,
): X509Certificate | undefined {
  const c = typeof cert === "string" ? parse(cert) : cert;
  if (c === undefined || !validAt(c, now)) return undefined;
  return parseBundle(bundlePem).find((ca) => validAt(ca, now) && isIssuedBy(c, ca));
}

export function validAt(cert: X509Certificate, now: Date): boolean {
  return cert.validFromDate.getTime() <= now.getTime() && now.getTime() <= cert.validToDate.getTime();
}
