import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";

/**
 * The credential envelope of docs/architecture.md: DataStore credentials sealed to the gateway's
 * X25519 public key, safe to commit to Git, opened only in an agent's memory.
 *
 *   ferry:v1:<base64url(ephemeral X25519 public key (32) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16))>
 *
 * The AES key is HKDF-SHA256 of the X25519 shared secret, salt = ephemeral public key ‖ recipient
 * public key, info = "ferry.dev/credentials/v1". The plaintext is a JSON object of strings. Every
 * seal uses a fresh ephemeral key and nonce, so sealing the same credentials twice gives two
 * different values. There is no associated data: the version tag needs none while v1 is the only
 * version, and anything else changed in the body changes the derived key or fails the tag.
 *
 * Errors are SealErrors with a reason and a message that never carries the plaintext, the keys or
 * the shared secret:
 *   Malformed           not `ferry:v<n>:<base64url>`, too short to hold the envelope, or a
 *                       plaintext that is not a JSON object of strings
 *   UnsupportedVersion  `ferry:v<n>:` with a version other than 1
 *   WrongKey            the AES-GCM tag does not verify, or the private key is not an X25519 key.
 *                       GCM cannot tell a value sealed to another key from one altered after
 *                       sealing; the first is by far the common case (credentials sealed to
 *                       another gateway, or before its key was replaced), so the reason names it
 *                       and the message mentions both.
 *   Tampered            the ephemeral public key is one no honest sealer produces (a low-order
 *                       point, whose shared secret is all zeros).
 */

export const SEALED_PREFIX = "ferry:v1:";
/** The CRD's pattern for DataStore spec.credentials.encrypted (crds/src/schema/patterns.ts). */
export const SEALED_PATTERN = /^ferry:v1:[A-Za-z0-9_-]+$/;
/** The CRD's maxLength for spec.credentials.encrypted. */
export const SEALED_MAX_LENGTH = 16_384;

const HKDF_INFO = "ferry.dev/credentials/v1";
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type SealErrorReason = "Malformed" | "UnsupportedVersion" | "WrongKey" | "Tampered";

export class SealError extends Error {
  readonly reason: SealErrorReason;

  constructor(reason: SealErrorReason, message: string) {
    super(message);
    this.name = "SealError";
    this.reason = reason;
  }
}

export interface CredentialKeyPair {
  /** base64url of the raw 32-byte X25519 public key: what LogicalGateway status.publicKey shows. */
  publicKey: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM of the same public key, for tools that want PEM. */
  publicKeyPem: string;
}

function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new SealError("WrongKey", "the key is not an X25519 key");
  return Buffer.from(x, "base64url");
}

function x25519PublicKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

function aesKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  const key = Buffer.from(
    hkdfSync("sha256", shared, Buffer.concat([ephemeral, recipient]), HKDF_INFO, KEY_BYTES),
  );
  shared.fill(0);
  return key;
}

export function generateCredentialKeyPair(): CredentialKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return {
    publicKey: rawPublicKey(publicKey).toString("base64url"),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

function x25519PrivateKey(privateKeyPem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new SealError("WrongKey", "the credential private key is not a PKCS#8 PEM key");
  }
  if (key.asymmetricKeyType !== "x25519") {
    throw new SealError(
      "WrongKey",
      `the credential private key is a ${key.asymmetricKeyType ?? "symmetric"} key, not an X25519 key`,
    );
  }
  return key;
}

/** The base64url public key of a private key, to mirror a user-provided key pair to status. */
export function credentialPublicKey(privateKeyPem: string): string {
  return rawPublicKey(createPublicKey(x25519PrivateKey(privateKeyPem))).toString("base64url");
}

/** The recipient from status.publicKey (base64url raw), or from an SPKI PEM, which is accepted too. */
function recipientKey(publicKey: string): { key: KeyObject; raw: Buffer } {
  const text = publicKey.trim();
  if (text.startsWith("-----BEGIN")) {
    let key: KeyObject;
    try {
      key = createPublicKey(text);
    } catch {
      throw new SealError("Malformed", "the public key is not a PEM public key");
    }
    if (key.asymmetricKeyType !== "x25519") {
      throw new SealError("Malformed", `the public key is a ${key.asymmetricKeyType} key, not an X25519 key`);
    }
    return { key, raw: rawPublicKey(key) };
  }
  const raw = Buffer.from(text, "base64url");
  if (!BASE64URL.test(text) || raw.length !== KEY_BYTES || raw.toString("base64url") !== text) {
    throw new SealError("Malformed", "the public key is not the base64url of a 32-byte X25519 public key");
  }
  return { key: x25519PublicKey(raw), raw };
}

function checkCredentials(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SealError("Malformed", "credentials must be a JSON object");
  }
  for (const [field, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SealError("Malformed", `credential field ${JSON.stringify(field)} is not a string`);
    }
  }
  return value as Record<string, string>;
}

export function sealCredentials(publicKey: string, plaintext: Record<string, string>): string {
  const credentials = checkCredentials(plaintext);
  const recipient = recipientKey(publicKey);
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralRaw = rawPublicKey(ephemeral.publicKey);
  const key = aesKey(
    diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient.key }),
    ephemeralRaw,
    recipient.raw,
  );
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(credentials), "utf8"), cipher.final()]);
  key.fill(0);
  const sealed =
    SEALED_PREFIX +
    Buffer.concat([ephemeralRaw, nonce, ciphertext, cipher.getAuthTag()]).toString("base64url");
  if (sealed.length > SEALED_MAX_LENGTH) {
    throw new SealError(
      "Malformed",
      `the sealed credentials are ${sealed.length} characters, more than the ${SEALED_MAX_LENGTH} a DataStore accepts`,
    );
  }
  return sealed;
}

export function openCredentials(privateKeyPem: string, sealed: string): Record<string, string> {
  if (typeof sealed !== "string") throw new SealError("Malformed", "the sealed credentials are not a string");
  const version = /^ferry:(v[0-9]+):/.exec(sealed);
  if (version === null) {
    throw new SealError("Malformed", 'the sealed credentials do not start with "ferry:v1:"');
  }
  if (version[1] !== "v1") {
    throw new SealError(
      "UnsupportedVersion",
      `the sealed credentials use envelope ${version[1]}; this agent reads v1 only: upgrade the agent or seal again`,
    );
  }
  const body = sealed.slice(SEALED_PREFIX.length);
  const bytes = Buffer.from(body, "base64url");
  if (!BASE64URL.test(body) || bytes.toString("base64url") !== body) {
    throw new SealError(
      "Malformed",
      "the sealed credentials are not unpadded base64url after the version tag",
    );
  }
  if (bytes.length < KEY_BYTES + NONCE_BYTES + TAG_BYTES + 2) {
    throw new SealError(
      "Malformed",
      `the sealed credentials are too short (${bytes.length} bytes) to hold an envelope`,
    );
  }

  const privateKey = x25519PrivateKey(privateKeyPem);
  const recipientRaw = rawPublicKey(createPublicKey(privateKey));
  const ephemeralRaw = bytes.subarray(0, KEY_BYTES);
  const nonce = bytes.subarray(KEY_BYTES, KEY_BYTES + NONCE_BYTES);
  const ciphertext = bytes.subarray(KEY_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);

  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(Buffer.from(ephemeralRaw)) });
  } catch {
    throw new SealError("Tampered", "the sealed credentials carry an invalid ephemeral public key");
  }
  if (shared.every((byte) => byte === 0)) {
    throw new SealError("Tampered", "the sealed credentials carry an invalid ephemeral public key");
  }
  const key = aesKey(shared, ephemeralRaw, recipientRaw);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new SealError(
      "WrongKey",
      "the sealed credentials cannot be opened with this gateway's credential key: they were sealed to " +
        "another key (another gateway, or before the key was replaced), or altered after sealing; " +
        "seal them again with the gateway's status.publicKey",
    );
  } finally {
    key.fill(0);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext.toString("utf8"));
  } catch {
    throw new SealError("Malformed", "the opened credentials are not JSON");
  } finally {
    plaintext.fill(0);
  }
  return checkCredentials(parsed);
}
