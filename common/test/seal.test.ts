import assert from "node:assert/strict";
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
} from "node:crypto";
import { describe, test } from "node:test";
import { API_VERSION, crdManifests, type DataStore, validate } from "@ferry/crds";
import {
  credentialPublicKey,
  generateCredentialKeyPair,
  openCredentials,
  SEALED_MAX_LENGTH,
  SEALED_PATTERN,
  SEALED_PREFIX,
  SealError,
  type SealErrorReason,
  sealCredentials,
} from "../src/seal.ts";

const gateway = generateCredentialKeyPair();
const otherGateway = generateCredentialKeyPair();
const SECRET = { username: "loader-7Qx", password: "s3cr3t-Pa55w0rd!" };
const sealed = sealCredentials(gateway.publicKey, SECRET);

/** A DataStore whose credentials are sealed: the shape users commit to Git. */
function sealedDataStore(encrypted: string): DataStore {
  return {
    apiVersion: API_VERSION,
    kind: "DataStore",
    metadata: { name: "pg-sealed" },
    spec: {
      gatewayRef: { name: "demo" },
      type: "PostgreSQL",
      connection: { host: "postgres.data.svc", database: "shop" },
      credentials: { encrypted },
    },
  };
}

const body = (value: string) => Buffer.from(value.slice(SEALED_PREFIX.length), "base64url");
const rebuild = (bytes: Buffer) => SEALED_PREFIX + bytes.toString("base64url");
function flip(value: string, index: (length: number) => number): string {
  const bytes = body(value);
  const i = index(bytes.length);
  bytes[i] = bytes[i]! ^ 0x01;
  return rebuild(bytes);
}

function sealError(fn: () => unknown): SealError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SealError, `expected a SealError, got ${err}`);
    return err;
  }
  assert.fail("expected a SealError");
}

/** Nothing secret may leak into an error message. */
function assertNoSecrets(message: string): void {
  for (const secret of [
    SECRET.password,
    SECRET.username,
    gateway.publicKey,
    otherGateway.publicKey,
    ...[gateway.privateKeyPem, otherGateway.privateKeyPem].map((pem) => pem.split("\n")[1]!),
  ]) {
    assert.ok(!message.includes(secret), `the message leaks a secret: ${message}`);
  }
}

describe("sealCredentials / openCredentials", () => {
  const roundTrips: { name: string; credentials: Record<string, string> }[] = [
    { name: "username and password", credentials: SECRET },
    { name: "no field", credentials: {} },
    { name: "unicode and JSON metacharacters", credentials: { password: 'pä"ss\\wörd\n🔑', user: "" } },
    {
      name: "a connection string",
      credentials: {
        connectionString:
          "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFl==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
      },
    },
    { name: "a large value", credentials: { sasToken: "x".repeat(10_000) } },
  ];
  for (const c of roundTrips) {
    test(`round trip: ${c.name}`, () => {
      const value = sealCredentials(gateway.publicKey, c.credentials);
      assert.deepEqual(openCredentials(gateway.privateKeyPem, value), c.credentials);
    });
  }

  test("the gateway's PEM public key seals too", () => {
    const value = sealCredentials(gateway.publicKeyPem, SECRET);
    assert.deepEqual(openCredentials(gateway.privateKeyPem, value), SECRET);
  });

  test("two seals of the same credentials differ (fresh ephemeral key and nonce)", () => {
    const again = sealCredentials(gateway.publicKey, SECRET);
    assert.notEqual(again, sealed);
    assert.notDeepEqual(body(again).subarray(0, 32), body(sealed).subarray(0, 32), "ephemeral keys differ");
    assert.notDeepEqual(body(again).subarray(32, 44), body(sealed).subarray(32, 44), "nonces differ");
  });

  test("the value has the CRD's shape, and a DataStore carrying it validates", () => {
    assert.match(sealed, SEALED_PATTERN);
    assert.deepEqual(validate("DataStore", sealedDataStore(sealed)), { valid: true });
    // The fixture does exercise the pattern: a value of another version is refused by the schema.
    assert.equal(
      validate("DataStore", sealedDataStore(sealed.replace("ferry:v1:", "ferry:v2:"))).valid,
      false,
    );
  });

  test("SEALED_PATTERN and SEALED_MAX_LENGTH are the ones the shipped CRD enforces", () => {
    const crd = crdManifests().find((m) => m.spec.names.kind === "DataStore")!;
    type Props = { properties: Record<string, Props>; pattern?: string; maxLength?: number };
    const schema = (crd.spec.versions[0] as { schema: { openAPIV3Schema: Props } }).schema.openAPIV3Schema;
    const encrypted = schema.properties.spec!.properties.credentials!.properties.encrypted!;
    assert.equal(encrypted.pattern, SEALED_PATTERN.source);
    assert.equal(encrypted.maxLength, SEALED_MAX_LENGTH);
  });

  test("the layout is the documented one: ephemeral key ‖ nonce ‖ ciphertext ‖ tag, opened by hand", () => {
    const bytes = body(sealed);
    const plaintext = JSON.stringify(SECRET);
    assert.equal(bytes.length, 32 + 12 + Buffer.byteLength(plaintext) + 16);
    const ephemeral = bytes.subarray(0, 32);
    const recipient = Buffer.from(gateway.publicKey, "base64url");
    const shared = diffieHellman({
      privateKey: createPrivateKey(gateway.privateKeyPem),
      publicKey: createPublicKey({
        key: { kty: "OKP", crv: "X25519", x: ephemeral.toString("base64url") },
        format: "jwk",
      }),
    });
    const key = Buffer.from(
      hkdfSync("sha256", shared, Buffer.concat([ephemeral, recipient]), "ferry.dev/credentials/v1", 32),
    );
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(32, 44));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const opened = Buffer.concat([decipher.update(bytes.subarray(44, bytes.length - 16)), decipher.final()]);
    assert.equal(opened.toString("utf8"), plaintext);
  });

  test("the public key is the base64url of 32 raw bytes, and derives from the private key", () => {
    assert.match(gateway.publicKey, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(gateway.publicKey, "base64url").length, 32);
    assert.equal(credentialPublicKey(gateway.privateKeyPem), gateway.publicKey);
    assert.match(gateway.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(gateway.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
  });
});

describe("openCredentials refuses", () => {
  const ecKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ format: "pem", type: "pkcs8" })
    .toString();
  const lowOrder = (() => {
    const bytes = body(sealed);
    bytes.fill(0, 0, 32);
    return rebuild(bytes);
  })();

  const cases: {
    name: string;
    key?: string;
    value: string | (() => string);
    reason: SealErrorReason;
    says?: string;
  }[] = [
    {
      name: "another gateway's key",
      key: otherGateway.privateKeyPem,
      value: sealed,
      reason: "WrongKey",
      says: "another key",
    },
    {
      name: "a key that is not X25519",
      key: ecKey,
      value: sealed,
      reason: "WrongKey",
      says: "not an X25519 key",
    },
    { name: "a key that is not PEM", key: "not a key", value: sealed, reason: "WrongKey" },
    {
      name: "a flipped bit in the ephemeral key",
      value: () => flip(sealed, () => 5),
      reason: "WrongKey",
      says: "altered",
    },
    { name: "a flipped bit in the nonce", value: () => flip(sealed, () => 40), reason: "WrongKey" },
    { name: "a flipped bit in the ciphertext", value: () => flip(sealed, () => 50), reason: "WrongKey" },
    { name: "a flipped bit in the tag", value: () => flip(sealed, (n) => n - 1), reason: "WrongKey" },
    {
      name: "a truncated value",
      value: () => rebuild(body(sealed).subarray(0, body(sealed).length - 1)),
      reason: "WrongKey",
    },
    { name: "a low-order ephemeral key", value: lowOrder, reason: "Tampered" },
    { name: "a newer envelope version", value: "ferry:v2:AAAA", reason: "UnsupportedVersion", says: "v2" },
    { name: "a much newer envelope version", value: "ferry:v10:AAAA", reason: "UnsupportedVersion" },
    { name: "an empty value", value: "", reason: "Malformed" },
    { name: "plain text", value: "password123", reason: "Malformed" },
    { name: "no version", value: "ferry:AAAA", reason: "Malformed" },
    { name: "an uppercase tag", value: sealed.replace("ferry:v1:", "FERRY:v1:"), reason: "Malformed" },
    { name: "nothing after the tag", value: "ferry:v1:", reason: "Malformed" },
    { name: "not base64url", value: "ferry:v1:abc+/def", reason: "Malformed" },
    { name: "padded base64", value: () => `${sealed}=`, reason: "Malformed" },
    {
      name: "too short to hold an envelope",
      value: `ferry:v1:${"A".repeat(70)}`,
      reason: "Malformed",
      says: "too short",
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const value = typeof c.value === "function" ? c.value() : c.value;
      const err = sealError(() => openCredentials(c.key ?? gateway.privateKeyPem, value));
      assert.equal(err.reason, c.reason, err.message);
      assert.equal(err.name, "SealError");
      if (c.says) assert.ok(err.message.includes(c.says), `"${err.message}" should mention "${c.says}"`);
      assertNoSecrets(err.message);
      assertNoSecrets(String(err.stack));
    });
  }

  test("a sealed value that opens to something other than an object of strings", () => {
    for (const bad of [["a"], { n: 1 }, "text", null]) {
      // Seal by hand what sealCredentials would refuse to seal.
      const err = sealError(() =>
        openCredentials(gateway.privateKeyPem, sealRaw(gateway.publicKey, JSON.stringify(bad))),
      );
      assert.equal(err.reason, "Malformed");
    }
  });
});

describe("sealCredentials refuses", () => {
  const cases: { name: string; publicKey: string; credentials: unknown; says: string }[] = [
    { name: "a public key of the wrong size", publicKey: "AAAA", credentials: SECRET, says: "32-byte" },
    {
      name: "a public key that is not base64url",
      publicKey: `${"A".repeat(42)}+`,
      credentials: SECRET,
      says: "32-byte",
    },
    {
      name: "a PEM key that is not X25519",
      publicKey: generateKeyPairSync("ec", { namedCurve: "P-256" })
        .publicKey.export({ format: "pem", type: "spki" })
        .toString(),
      credentials: SECRET,
      says: "X25519",
    },
    { name: "a non-string field", publicKey: gateway.publicKey, credentials: { port: 5432 }, says: '"port"' },
    { name: "an array", publicKey: gateway.publicKey, credentials: ["a"], says: "JSON object" },
    {
      name: "credentials too large for a DataStore",
      publicKey: gateway.publicKey,
      credentials: { sasToken: "x".repeat(SEALED_MAX_LENGTH) },
      says: String(SEALED_MAX_LENGTH),
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const err = sealError(() => sealCredentials(c.publicKey, c.credentials as Record<string, string>));
      assert.equal(err.reason, "Malformed");
      assert.ok(err.message.includes(c.says), `"${err.message}" should mention ${c.says}`);
      assertNoSecrets(err.message);
    });
  }
});

/** The envelope around any plaintext, following docs/architecture.md step by step. */
function sealRaw(publicKey: string, plaintext: string): string {
  const recipient = Buffer.from(publicKey, "base64url");
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralRaw = Buffer.from(ephemeral.publicKey.export({ format: "jwk" }).x!, "base64url");
  const shared = diffieHellman({
    privateKey: ephemeral.privateKey,
    publicKey: createPublicKey({ key: { kty: "OKP", crv: "X25519", x: publicKey }, format: "jwk" }),
  });
  const key = Buffer.from(
    hkdfSync("sha256", shared, Buffer.concat([ephemeralRaw, recipient]), "ferry.dev/credentials/v1", 32),
  );
  const nonce = Buffer.alloc(12, 7);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return rebuild(Buffer.concat([ephemeralRaw, nonce, ciphertext, cipher.getAuthTag()]));
}
