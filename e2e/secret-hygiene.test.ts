/**
 * The fear: "the gateway leaks my passwords into logs." A whole run — copies that succeed, a
 * copy with a wrong password, connection tests, the CLI's status and describe, a registration
 * key used by an external agent — and then the plaintext of every credential (database passwords,
 * the Blob account key, the gateway's private key, the registration key) is looked for in every
 * log line (operator, agent pods, external agent, CLI, kubelet, control plane), every Event and
 * every status. It must appear nowhere.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { type KubeObject, type Secret, sealCredentials } from "@ferry/common";
import type { DataStore } from "@ferry/crds";
import { eventually } from "@ferry/hack/testing";
import {
  allLines,
  copyJob,
  ferryCli,
  getGateway,
  startExternalAgent,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();

async function filesUnder(dir: string, match: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path, match)));
    else if (match(entry.name)) out.push(path);
  }
  return out;
}

test("no credential's plaintext in any log line, Event or status after a whole run", async (t) => {
  const stack = await startStack(await testScope(t), services, { rows: 1_000 });
  const { kube, namespace, kubeconfig } = stack;
  const gw = (await getGateway(kube, namespace, stack.gateway))!;
  const secretValue = async (name: string, key: string) => {
    const s = await kube.get<Secret>({ apiVersion: "v1", kind: "Secret", namespace, name });
    return Buffer.from(s?.data?.[key] ?? "", "base64").toString("utf8");
  };
  const privateKey = await secretValue(`${stack.gateway}-credential-key`, "private.key");
  const registrationKey = await secretValue(gw.status!.registrationSecretName!, "key");
  const wrongPassword = "hunter2-wrong-but-secret";
  const secrets = [
    ...stack.secrets,
    wrongPassword,
    registrationKey,
    // The PEM body: any of its lines would do, the longest is the one that cannot be a coincidence.
    ...privateKey.split("\n").filter((l) => l.length > 40),
  ];
  assert.ok(
    secrets.every((s) => s.length >= 8),
    "every secret is long enough to be found",
  );

  // Work that touches every credential: copies, a failing login, the CLI, an external agent.
  const wrong: DataStore = (await kube.get<DataStore>({
    apiVersion: "ferry.dev/v1alpha1",
    kind: "DataStore",
    namespace,
    name: "pg-source",
  }))!;
  await kube.create<DataStore>({
    apiVersion: wrong.apiVersion,
    kind: wrong.kind,
    metadata: { name: "pg-wrong", namespace },
    spec: {
      ...wrong.spec,
      credentials: {
        encrypted: sealCredentials(gw.status!.publicKey!, {
          username: "orders_reader",
          password: wrongPassword,
        }),
      },
    },
  });
  // The external agent joins with the key; it only has to be heartbeating and taking jobs here
  // (Limited counts: on a loaded machine its peer probes may time out), the copies are the point.
  const external = await startExternalAgent(stack, "outside-1", [
    "--key",
    registrationKey,
    "--node",
    "outside-1",
    "--state-dir",
    `/tmp/ferry-e2e-${namespace}`,
  ]);
  let seen: unknown;
  await eventually(
    "the external node serving (Online or Limited)",
    async () => {
      const n = await kube.get<KubeObject & { status?: { state?: string } }>({
        apiVersion: "ferry.dev/v1alpha1",
        kind: "GatewayNode",
        namespace,
        name: "outside-1",
      });
      seen = n?.status;
      return n?.status?.state === "Online" || n?.status?.state === "Limited";
    },
    { timeoutMs: 90_000 },
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; its status: ${JSON.stringify(seen)}; its last lines:\n${external.lines.slice(-5).join("\n")}`,
    );
  });
  for (let i = 0; i < 3; i++) await kube.create(copyJob(stack, `good-${i}`, { partitions: 2 }));
  await kube.create(copyJob(stack, "bad-login", { source: "pg-wrong", maxAttempts: 1 }));
  for (let i = 0; i < 3; i++) assert.equal((await waitFinal(stack, `good-${i}`)).status?.phase, "Succeeded");
  assert.equal((await waitFinal(stack, "bad-login")).status?.phase, "Failed");
  await eventually(
    "both DataStores tested",
    async () => {
      const stores = await kube.list<DataStore>("ferry.dev/v1alpha1", "DataStore", namespace);
      return stores.every((s) => s.status?.conditions?.some((c) => c.type === "Reachable"));
    },
    { timeoutMs: 90_000 },
  );
  await ferryCli(["status", "-n", namespace, "--kubeconfig", kubeconfig]);
  await ferryCli(["describe", "job", "bad-login", "-n", namespace, "--kubeconfig", kubeconfig]);
  external.kill("SIGTERM");
  assert.equal(await external.exited, 0);

  // Everything anyone could read afterwards.
  const texts: { where: string; text: string }[] = [];
  texts.push({ where: "lines of the operator, external agent and CLI", text: allLines.join("\n") });
  for (const kind of ["CopyJob", "DataStore", "GatewayNode", "LogicalGateway"])
    texts.push({
      where: `${kind} objects`,
      text: JSON.stringify(await kube.list("ferry.dev/v1alpha1", kind, namespace)),
    });
  texts.push({ where: "Events (core)", text: JSON.stringify(await kube.list("v1", "Event", namespace)) });
  texts.push({
    where: "Events (events.k8s.io)",
    text: JSON.stringify(await kube.list("events.k8s.io/v1", "Event", namespace)),
  });
  texts.push({ where: "Pods", text: JSON.stringify(await kube.list("v1", "Pod", namespace)) });
  const clusterDir = process.env.FERRY_CLUSTER_DIR;
  assert.ok(clusterDir, "the control plane's folder is known (FERRY_CLUSTER_DIR)");
  const logs = await filesUnder(join(clusterDir, "logs"), (n) => n.endsWith(".log"));
  // The process node keeps each pod's output in its own data folder, named in its log.
  const nodeLog = await readFile(join(clusterDir, "logs", "ferry-process-node.log"), "utf8");
  for (const [, dir] of nodeLog.matchAll(/data in (\S+?)\)/g))
    logs.push(...(await filesUnder(join(dir!, "logs"), (n) => n.startsWith(`${namespace}_`))));
  const podLogs = logs.filter((l) => l.includes(`${namespace}_`));
  assert.ok(podLogs.length >= 2, `the agent pods' logs were found (${podLogs.length})`);
  for (const file of logs) texts.push({ where: file, text: await readFile(file, "utf8") });
  const agentLines = podLogs.length;
  t.diagnostic(
    `searched ${texts.length} sources (${agentLines} pod logs, ${allLines.length} process lines) for ${secrets.length} secrets`,
  );
  for (const secret of secrets)
    for (const { where, text } of texts)
      assert.ok(!text.includes(secret), `a credential appears in ${where}`);
});
