/**
 * The fear: "a leaked registration key is forever." An external node joined with registration
 * key #1 (written by `ferry register --output-key-file`, as its help recommends) and is copying when
 * the key is rotated (`spec.registration.rotation`, a spec change as GitOps makes it). The scenario
 * proves that rotation really revokes the key:
 * - a new key is published in the registration Secret the gateway's status names, its token Secret
 *   replaces the old one, and the rotation is an Event;
 * - whoever holds the old key is out: the running agent's requests are refused, its node goes
 *   Offline and the copy it ran is taken back (NodeLost) and finished by the managed node from the
 *   checkpoint, exactly; that agent then ends with one clear line; a new agent started with the
 *   old key exits non-zero with one clear line
 *   and registers nothing;
 * - the machine comes back with the new key under its old name (the GatewayNode keeps its
 *   identity), and runs a copy exactly;
 * - the managed node, which does not use the registration key, stays Online throughout.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeRegistrationKey, type Secret } from "@ferry/common";
import { eventually } from "@ferry/hack/testing";
import {
  eventsAbout,
  exitOf,
  getNode,
  getSecret,
  nodeLease,
  register,
  runningOn,
  secretText,
  setCordoned,
  startExternalAgent,
  waitNodeState,
} from "./support/external.ts";
import {
  assertExact,
  copyJob,
  FERRY,
  getGateway,
  listNodes,
  SLOW_QUERY,
  type Stack,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();
const MACHINE = "vm-1";

/** The gateway's token Secrets (one per rotation in force), as rotation → name. */
async function tokenSecrets(stack: Stack): Promise<Map<string, string>> {
  const secrets = await stack.kube.list<Secret>("v1", "Secret", stack.namespace, {
    labelSelector: `ferry.dev/gateway=${stack.gateway},app.kubernetes.io/component=registration`,
  });
  return new Map(
    secrets
      .filter((s) => s.type === "kubernetes.io/service-account-token")
      .map((s) => [s.metadata.annotations?.["ferry.dev/rotation"] ?? "", s.metadata.name]),
  );
}

test("rotating the registration key locks out the old key, running agent included; the new key works", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    spec: { nodes: { min: 1, max: 1 } },
    rows: 12_000,
  });
  const { kube, namespace, gateway } = stack;
  const managed = "gw-0";
  const dir = await mkdtemp(join(tmpdir(), "ferry-keys-"));
  t.after(() => rm(dir, { recursive: true, force: true }));

  // Key #1, in a file, and the machine joined with it.
  const gw = await getGateway(kube, namespace, gateway);
  const registrationSecret = gw?.status?.registrationSecretName;
  assert.ok(registrationSecret, "the gateway names its registration Secret");
  const oldFile = join(dir, "key-1");
  const first = await register(stack, MACHINE, ["--output-key-file", oldFile]);
  assert.deepEqual(first.args, ["--key-file", oldFile, "--node", MACHINE]);
  const oldKey = (await readFile(oldFile, "utf8")).trim();
  const oldTokens = await tokenSecrets(stack);
  assert.deepEqual([...oldTokens.keys()], ["initial"]);
  const machine = await startExternalAgent(stack, `${MACHINE}-key1`, first.args);
  const joined = await waitNodeState(stack, MACHINE, "Online");

  // A copy on the machine (the managed node cordoned meanwhile), under way when the key rotates.
  await setCordoned(stack, managed, true);
  await kube.create(copyJob(stack, "during-rotation", { query: SLOW_QUERY, partitions: 12, parallelism: 2 }));
  await runningOn(stack, "during-rotation", MACHINE, 1, 120_000);
  await setCordoned(stack, managed, false);

  // The managed node is watched from now on: it must never leave Online.
  const managedStates = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const n = await getNode(stack, managed).catch(() => undefined);
      managedStates.add(n?.status?.state ?? "(missing)");
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  t.after(async () => {
    watching = false;
    await watcher;
  });

  const rotation = `leaked-${randomBytes(3).toString("hex")}`;
  const rotatedAt = Date.now();
  await kube.mergePatch(
    { apiVersion: FERRY, kind: "LogicalGateway", namespace, name: gateway },
    { spec: { registration: { rotation } } },
  );

  // A new key is published where the status says, its token Secret replacing the old one.
  const published = await eventually(
    `registration Secret rewritten for rotation ${rotation}`,
    async () => {
      const s = await getSecret(stack, registrationSecret);
      return secretText(s, "rotation") === rotation ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  const newKey = secretText(published, "key").trim();
  assert.notEqual(newKey, oldKey, "a new key");
  assert.notEqual(decodeRegistrationKey(newKey).token, decodeRegistrationKey(oldKey).token, "a new token");
  const tokens = await eventually(
    "the old token Secret deleted",
    async () => {
      const m = await tokenSecrets(stack);
      return m.size === 1 && m.has(rotation) ? m : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  assert.notEqual(tokens.get(rotation), oldTokens.get("initial"));
  assert.equal(
    (await getGateway(kube, namespace, gateway))?.status?.registrationSecretName,
    registrationSecret,
  );
  const rotatedEvents = await eventually(
    "a RegistrationKeyRotated Event",
    async () => {
      const e = await eventsAbout(stack, "LogicalGateway", gateway, "RegistrationKeyRotated");
      return e.length > 0 ? e : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.match(rotatedEvents[0]?.note ?? "", new RegExp(`"${rotation}"; 1 older key\\(s\\) revoked`));

  // The agent running with the old key is cut off: it can no longer renew its lease, so its node
  // goes Offline and the copy it was running is taken back.
  const offline = await waitNodeState(stack, MACHINE, "Offline", 60_000);
  t.diagnostic(
    `old-key agent Offline ${Date.now() - rotatedAt} ms after the rotation (${offline.status?.conditions?.find((c) => c.type === "Ready")?.reason})`,
  );
  const handed = await waitFinal(stack, "during-rotation", 180_000);
  assert.equal(handed.status?.phase, "Succeeded", JSON.stringify(handed.status?.attempts));
  assert.deepEqual(
    handed.status?.attempts?.map((a) => [a.node, a.result, a.reason]),
    [
      [MACHINE, "Failed", "NodeLost"],
      [managed, "Succeeded", handed.status?.attempts?.[1]?.reason],
    ],
    JSON.stringify(handed.status?.attempts),
  );
  await assertExact(stack, handed);
  // What the machine's owner sees: once its lease has run out on refused credentials, the agent
  // ends by itself with the same one line as at start, and the key's exit code.
  const stoppedCode = await exitOf(machine, 60_000);
  assert.equal(
    stoppedCode,
    3,
    `the revoked agent's exit code; last lines:\n${machine.lines.slice(-5).join("\n")}`,
  );
  assert.ok(
    machine.lines.some((l) => /^ferry-agent: .*rotated or revoked.*ferry register/.test(l)),
    "the revoked agent says why it stopped, in one line",
  );

  // A new agent with the old key: refused at once, one clear line, nothing registered.
  const leak = await startExternalAgent(stack, "vm-leak", ["--key", oldKey, "--node", "vm-leak"]);
  const leakCode = await exitOf(leak, 60_000);
  assert.equal(leakCode, 3, `the key exit code; output:\n${leak.lines.join("\n")}`);
  assert.equal(leak.lines.length, 1, `one line, nothing else:\n${leak.lines.join("\n")}`);
  assert.match(leak.lines[0]!, /^ferry-agent: .*rotated or revoked.*ferry register/);
  assert.equal(await getNode(stack, "vm-leak"), undefined, "no GatewayNode for the old key's holder");
  assert.equal(await nodeLease(stack, "vm-leak"), undefined, "no Lease either");

  // The machine comes back with the new key (from `ferry register`, which now prints it) under its
  // old name: the same GatewayNode, Online again.
  const newFile = join(dir, "key-2");
  const second = await register(stack, MACHINE, ["--output-key-file", newFile]);
  assert.equal((await readFile(newFile, "utf8")).trim(), newKey, "ferry register hands out the new key");
  const renewed = await startExternalAgent(stack, `${MACHINE}-key2`, second.args);
  const back = await waitNodeState(stack, MACHINE, "Online");
  assert.equal(back.metadata.uid, joined.metadata.uid, "the registered node keeps its identity");
  assert.equal(back.spec.managed, false);

  // It runs a copy (the managed node cordoned again, so the copy can only go there), exactly.
  await setCordoned(stack, managed, true);
  await kube.create(copyJob(stack, "new-key", { partitions: 4 }));
  const onNewKey = await waitFinal(stack, "new-key", 120_000);
  await setCordoned(stack, managed, false);
  assert.equal(onNewKey.status?.phase, "Succeeded", JSON.stringify(onNewKey.status?.attempts));
  assert.deepEqual(
    onNewKey.status?.attempts?.map((a) => [a.node, a.result]),
    [[MACHINE, "Succeeded"]],
  );
  await assertExact(stack, onNewKey);

  // The managed node never noticed.
  watching = false;
  await watcher;
  assert.deepEqual([...managedStates], ["Online"], "the managed node stayed Online through the rotation");
  const nodes = await listNodes(kube, namespace);
  assert.deepEqual(nodes.map((n) => n.metadata.name).sort(), [managed, MACHINE].sort());
  const final = await eventually(
    "the gateway Online with both nodes",
    async () => {
      const s = (await getGateway(kube, namespace, gateway))?.status;
      return s?.phase === "Online" && s.nodes?.online === 2 ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  assert.equal(final.nodes?.desired, 1);
  renewed.kill("SIGTERM");
  assert.equal(await exitOf(renewed, 30_000), 0, "the new-key agent stops cleanly");
});
