import type { webcrypto } from "node:crypto";
import { isIP } from "node:net";
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded before it.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/**
 * The gateway's own CA (spec.tls.mode Managed) and the node certificates it issues: ECDSA P-256
 * keys, SHA-256 signatures, PEM in and out (certificates as CERTIFICATE, keys as PKCS#8
 * PRIVATE KEY), so the results go straight into `kubernetes.io/tls` Secrets.
 *
 * No clock is read: the caller passes `now`. Key generation is random, so these are not
 * deterministic, but they do no I/O. Reading certificates back (certificateInfo) is synchronous.
 */

x509.cryptoProvider.set(globalThis.crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/**
 * notBefore is set this far before `now`: a node whose clock runs a little behind the operator's
 * would otherwise reject a certificate issued a moment ago as not yet valid.
 */
export const BACKDATE_MS = 5 * 60_000;

export interface CertificateAndKey {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface CreateCaInput {
  commonName: string;
  now: Date;
  validityDays: number;
}

export interface IssueNodeCertificateInput {
  ca: CertificateAndKey;
  /**
   * The names peers use for the node (`<node>`, `<node>.<ns>.svc`, `localhost`, ...). Entries
   * that are IP literals (`127.0.0.1`, `::1`) become IP address SANs.
   */
  dnsNames: readonly string[];
  /** More IP address SANs. */
  ipAddresses?: readonly string[];
  commonName: string;
  now: Date;
  /** Capped at the CA's own expiry: a certificate outliving its issuer would fail verification anyway. */
  validityDays: number;
}

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  issuer: string;
  subject: string;
  isCa: boolean;
  /** Hexadecimal. */
  serialNumber: string;
  /** Extended key usage OIDs (serverAuth 1.3.6.1.5.5.7.3.1, clientAuth 1.3.6.1.5.5.7.3.2). */
  extendedKeyUsages: string[];
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await globalThis.crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const pkcs8 = await globalThis.crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

/** A random positive 128-bit serial number, hex. */
function serialNumber(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}

const commonNameOnly = (commonName: string): x509.JsonName => [{ CN: [commonName] }];

export async function createCa(input: CreateCaInput): Promise<CertificateAndKey> {
  if (!(input.validityDays > 0)) throw new RangeError("validityDays must be positive");
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: commonNameOnly(input.commonName),
    notBefore: new Date(input.now.getTime() - BACKDATE_MS),
    notAfter: new Date(input.now.getTime() + input.validityDays * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      // pathLength 0: the CA signs node certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

export async function issueNodeCertificate(input: IssueNodeCertificateInput): Promise<CertificateAndKey> {
  if (!(input.validityDays > 0)) throw new RangeError("validityDays must be positive");
  const caCert = new x509.X509Certificate(input.ca.certPem);
  if (caCert.notAfter.getTime() <= input.now.getTime()) {
    throw new Error(`the CA "${caCert.subject}" expired at ${caCert.notAfter.toISOString()}`);
  }
  const caKey = await globalThis.crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(input.ca.keyPem),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );

  const names = [...new Set([...input.dnsNames, ...(input.ipAddresses ?? [])])];
  const san: x509.JsonGeneralNames = names.map((value) => ({ type: isIP(value) ? "ip" : "dns", value }));
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: commonNameOnly(input.commonName),
    issuer: caCert.subjectName,
    notBefore: new Date(input.now.getTime() - BACKDATE_MS),
    notAfter: new Date(
      Math.min(input.now.getTime() + input.validityDays * DAY_MS, caCert.notAfter.getTime()),
    ),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // Nodes are servers and clients of each other's peer endpoint.
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(san),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
    ],
  });
  // A CA key that does not belong to the CA certificate would yield certificates nobody accepts.
  if (!(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true }))) {
    throw new Error("the CA private key does not match the CA certificate");
  }
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

/** What a certificate says, for decisions and for messages. Throws on a value that is not a certificate. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = new x509.X509Certificate(pem);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  return {
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    issuer: cert.issuer,
    subject: cert.subject,
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    serialNumber: cert.serialNumber,
    extendedKeyUsages: Array.from(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [], String),
  };
}
