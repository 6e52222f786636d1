/**
 * `ferry register` against the real API server: it prints the key of the registration Secret the
 * gateway's status names, one that decodeRegistrationKey accepts; --output-key-file writes it to a
 * 0600 file instead of the command line; missing pieces are clear failures.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { decodeRegistrationKey, encodeRegistrationKey, type Secret } from "@ferry/common";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { installCrds, testKube, testNamespace } from "@ferry/hack/testing";
import { assertFails, assertOk, ferry, inNamespace, setStatus } from "./helpers.ts";

before(async () => {
  await installCrds(testKube());
});

async function registeredGateway(t: Parameters<typeof testNamespace>[0]) {
  const env = await testNamespace(t);
  const key = encodeRegistrationKey({
    v: 1,
    server: env.kube.server,
    ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    token: "eyJhbGciOiJSUzI1NiJ9.token-of-the-test",
    namespace: env.namespace,
    gateway: "demo",
  });
  await env.kube.create<Secret>({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "demo-registration", namespace: env.namespace },
    data: { key: Buffer.from(key).toString("base64"), rotation: Buffer.from("initial").toString("base64") },
  });
  const gateway = await env.kube.create(gatewayFixture("demo", inNamespace(env.namespace)));
  await setStatus(env.kube, gateway, { registrationSecretName: "demo-registration" });
  return { ...env, key };
}

test("register prints the agent command with the Secret's key", async (t) => {
  const { kubeconfig, namespace, key, kube } = await registeredGateway(t);
  const dir = await mkdtemp(join(tmpdir(), "ferry-register-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "demo.key");
  await writeFile(keyFile, "stale content from before\n", { mode: 0o644 });
  const at = { kubeconfig, namespace };
  const [plain, withFile, asJson] = await Promise.all([
    ferry(["register", "--gateway", "demo", "--node", "vm-1"], at),
    ferry(["register", "--gateway", "demo", "--node", "vm-2", "--output-key-file", keyFile], at),
    ferry(["register", "--gateway", "demo", "-o", "json"], at),
  ]);

  assertOk(plain);
  const printed = /^ {2}ferry-agent --key (\S+) --node vm-1$/m.exec(plain.stdout);
  assert.ok(printed, plain.stdout);
  assert.equal(printed[1], key);
  assert.deepEqual(decodeRegistrationKey(printed[1]!), decodeRegistrationKey(key));
  assert.match(
    plain.stdout,
    new RegExp(`outbound HTTPS to the API server ${kube.server.replace(/[.]/g, "\\.")}\\)`),
  );
  assert.match(plain.stdout, /The key is a credential/);

  assertOk(withFile);
  assert.ok(!withFile.stdout.includes(key), "the key stays off the screen");
  assert.match(withFile.stdout, new RegExp(`^ {2}ferry-agent --key-file ${keyFile} --node vm-2$`, "m"));
  assert.equal((await readFile(keyFile, "utf8")).trim(), key);
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);

  assertOk(asJson);
  const parsed = JSON.parse(asJson.stdout) as {
    key: string;
    gateway: string;
    namespace: string;
    command: string;
  };
  assert.equal(parsed.key, key);
  assert.equal(parsed.gateway, "demo");
  assert.equal(parsed.namespace, namespace);
  assert.equal(parsed.command, `ferry-agent --key ${key}`);
});

test("register fails clearly before the operator has written the key", async (t) => {
  const { kube, kubeconfig, namespace } = await registeredGateway(t);
  const at = { kubeconfig, namespace };
  await kube.create(gatewayFixture("fresh", inNamespace(namespace)));
  const orphan = await kube.create(gatewayFixture("orphan", inNamespace(namespace)));
  await setStatus(kube, orphan, { registrationSecretName: "orphan-registration" });
  const [missing, fresh, noSecret, badNode, noGateway] = await Promise.all([
    ferry(["register", "--gateway", "nope"], at),
    ferry(["register", "--gateway", "fresh"], at),
    ferry(["register", "--gateway", "orphan"], at),
    ferry(["register", "--gateway", "demo", "--node", "Not_A_Label"], at),
    ferry(["register"], at),
  ]);
  assertFails(missing, 1, /LogicalGateway "nope" not found in namespace/);
  assertFails(fresh, 1, /"fresh" has no registration key yet \(status\.registrationSecretName is empty\)/);
  assertFails(noSecret, 1, /registration Secret "orphan-registration" of gateway "orphan" does not exist/);
  assertFails(badNode, 2, /node "Not_A_Label" is not a valid name/);
  assertFails(noGateway, 2, /--gateway is required/);
});
