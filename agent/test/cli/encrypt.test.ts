/**
 * `ferry encrypt` against the real API server: what it prints opens, with the gateway's private
 * key, to exactly what went in; the API accepts it in a DataStore; the --datastore patch applies
 * with kubectl; and it refuses clearly, never echoing the plaintext.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { generateCredentialKeyPair, openCredentials } from "@ferry/common";
import { API_VERSION, type DataStore, validate } from "@ferry/crds";
import { azureBlob, dataStoreFixture, gatewayFixture } from "@ferry/crds/fixtures";
import { installCrds, kubectl, testKube, testNamespace } from "@ferry/hack/testing";
import { assertFails, assertOk, ferry, inNamespace, setStatus } from "./helpers.ts";

const PASSWORD = 'pa55 w=rd "quoted" ünïcode';

before(async () => {
  await installCrds(testKube());
});

/** A namespace with gateway "demo" whose status carries a fresh public key, as the operator's would. */
async function gatewayWithKey(t: Parameters<typeof testNamespace>[0]) {
  const env = await testNamespace(t);
  const keys = generateCredentialKeyPair();
  const gateway = await env.kube.create(gatewayFixture("demo", inNamespace(env.namespace)));
  await setStatus(env.kube, gateway, { publicKey: keys.publicKey, phase: "NeedsRegistration" });
  return { ...env, keys };
}

test("encrypt seals literals, a file and stdin to the gateway's key", async (t) => {
  const { kube, kubeconfig, namespace, keys } = await gatewayWithKey(t);
  const at = { kubeconfig, namespace };
  const dir = await mkdtemp(join(tmpdir(), "ferry-encrypt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "creds.json"), JSON.stringify({ username: "ferry", password: PASSWORD }));

  const [literal, file, stdinLines] = await Promise.all([
    ferry(
      [
        "encrypt",
        "--gateway",
        "demo",
        "--from-literal",
        "username=ferry",
        "--from-literal",
        `password=${PASSWORD}`,
      ],
      at,
    ),
    ferry(["encrypt", "--gateway", "demo", "--from-file", join(dir, "creds.json")], at),
    ferry(["encrypt", "--gateway", "demo"], { ...at, stdin: `# pg\nusername=ferry\npassword=${PASSWORD}\n` }),
  ]);
  for (const result of [literal, file, stdinLines]) {
    assertOk(result);
    assert.equal(result.stderr, "");
    assert.match(result.stdout, /^ferry:v1:[A-Za-z0-9_-]+\n$/);
    assert.ok(!result.stdout.includes("ferry\n") && !result.stdout.includes("pa55"), "no plaintext printed");
    const sealed = result.stdout.trim();
    assert.deepEqual(openCredentials(keys.privateKeyPem, sealed), { username: "ferry", password: PASSWORD });

    const store = dataStoreFixture("pg", inNamespace(namespace), (s) => {
      s.spec.credentials = { encrypted: sealed };
    });
    assert.deepEqual(validate("DataStore", store), { valid: true });
  }
  assert.notEqual(literal.stdout, file.stdout, "every seal is fresh");

  // The API server takes it as it is.
  const created = await kube.create(
    dataStoreFixture("pg", inNamespace(namespace), (s) => {
      s.spec.credentials = { encrypted: literal.stdout.trim() };
    }),
  );
  assert.equal(created.spec.credentials?.encrypted, literal.stdout.trim());
});

test("encrypt --datastore prints a merge patch kubectl applies", async (t) => {
  const { kube, kubeconfig, namespace, keys } = await gatewayWithKey(t);
  await kube.create(dataStoreFixture("blob", inNamespace(namespace), azureBlob));
  const result = await ferry(
    ["encrypt", "--datastore", "blob", "--from-literal", "accountKey=a2V5LWtleQ=="],
    {
      kubeconfig,
      namespace,
    },
  );
  assertOk(result);
  assert.match(
    result.stdout,
    /^spec:\n {2}credentials:\n {4}secretRef: null\n {4}encrypted: ferry:v1:[A-Za-z0-9_-]+\n$/,
  );
  assert.match(result.stderr, /kubectl patch datastore blob -n \S+ --type merge --patch-file/);

  const dir = await mkdtemp(join(tmpdir(), "ferry-patch-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "patch.yaml"), result.stdout);
  await kubectl([
    "-n",
    namespace,
    "patch",
    "datastore",
    "blob",
    "--type",
    "merge",
    "--patch-file",
    join(dir, "patch.yaml"),
  ]);
  const store = await kube.get<DataStore>({
    apiVersion: API_VERSION,
    kind: "DataStore",
    namespace,
    name: "blob",
  });
  assert.equal(store?.spec.credentials?.secretRef, undefined);
  assert.deepEqual(openCredentials(keys.privateKeyPem, store?.spec.credentials?.encrypted ?? ""), {
    accountKey: "a2V5LWtleQ==",
  });
});

test("encrypt refuses clearly and never echoes a credential", async (t) => {
  const { kube, kubeconfig, namespace } = await gatewayWithKey(t);
  const at = { kubeconfig, namespace };
  await kube.create(gatewayFixture("fresh", inNamespace(namespace)));
  const badKey = await kube.create(gatewayFixture("badkey", inNamespace(namespace)));
  await setStatus(kube, badKey, { publicKey: "bm90LWEta2V5" });
  await kube.create(dataStoreFixture("pg", inNamespace(namespace)));
  await kube.create(
    dataStoreFixture("elsewhere", inNamespace(namespace), (s) => {
      s.spec.gatewayRef.name = "fresh";
    }),
  );
  const secret = `password=${PASSWORD}`;
  const cases: [string, Promise<import("./helpers.ts").Run>, number, RegExp][] = [
    [
      "missing gateway",
      ferry(["encrypt", "--gateway", "nope", "--from-literal", secret], at),
      1,
      /LogicalGateway "nope" not found in namespace/,
    ],
    [
      "no public key yet",
      ferry(["encrypt", "--gateway", "fresh", "--from-literal", secret], at),
      1,
      /"fresh" has no public key yet .*operator/,
    ],
    [
      "a public key that is not one",
      ferry(["encrypt", "--gateway", "badkey", "--from-literal", secret], at),
      1,
      /"badkey" has an unusable status\.publicKey: the public key is not the base64url of a 32-byte X25519 public key/,
    ],
    [
      "more than a DataStore holds",
      ferry(["encrypt", "--gateway", "demo"], { ...at, stdin: `sasToken=pa55${"x".repeat(13_000)}` }),
      2,
      /the sealed credentials are \d+ characters, more than the 16384 a DataStore accepts/,
    ],
    [
      "a mistyped option with a credential",
      ferry(["encrypt", "--gateway", "demo", `--from-literl=${secret}`], at),
      2,
      /^ferry encrypt: unknown option --from-literl \(see ferry encrypt --help\)$/,
    ],
    [
      "missing datastore",
      ferry(["encrypt", "--datastore", "nope", "--from-literal", secret], at),
      1,
      /DataStore "nope" not found/,
    ],
    [
      "datastore of another gateway",
      ferry(["encrypt", "--gateway", "demo", "--datastore", "elsewhere", "--from-literal", secret], at),
      1,
      /belongs to gateway "fresh", not "demo"/,
    ],
    [
      "field the store type does not use",
      ferry(["encrypt", "--datastore", "pg", "--from-literal", `accountKey=${PASSWORD}`], at),
      2,
      /type PostgreSQL, which does not use accountKey/,
    ],
    [
      "unknown field",
      ferry(["encrypt", "--gateway", "demo", "--from-literal", `pasword=${PASSWORD}`], at),
      2,
      /unknown credential field "pasword"/,
    ],
    ["no input at all", ferry(["encrypt", "--gateway", "demo"], at), 2, /no credential fields given/],
    [
      "broken JSON",
      ferry(["encrypt", "--gateway", "demo"], { ...at, stdin: `{"password": "${PASSWORD}` }),
      2,
      /stdin starts with "\{" but is not valid JSON/,
    ],
    [
      "a stray argument",
      ferry(["encrypt", "--gateway", "demo", secret], at),
      2,
      /encrypt takes no arguments/,
    ],
    [
      "no gateway",
      ferry(["encrypt", "--from-literal", secret], at),
      2,
      /--gateway \(or --datastore\) is required/,
    ],
    [
      "missing file",
      ferry(["encrypt", "--gateway", "demo", "--from-file", "/nonexistent/creds"], at),
      2,
      /cannot read --from-file \/nonexistent\/creds: no such file/,
    ],
  ];
  for (const [name, running, code, message] of cases) {
    const result = await running;
    await t.test(name, () => {
      assertFails(result, code, message);
      assert.ok(!result.stderr.includes("pa55"), "the plaintext is not echoed");
    });
  }
});
