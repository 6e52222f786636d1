/**
 * Two operator processes: one leads and reconciles, the other waits ready; killing the leader
 * hands the Lease to the standby within one lease period, and SIGTERM releases it at once.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { test } from "node:test";
import type { KubeObject } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { freePort } from "@ferry/hack";
import { eventually, installCrds, testKubeconfig, testNamespace } from "@ferry/hack/testing";
import { gatewayIn } from "./support/fixtures.ts";

type Lease = KubeObject & { spec: { holderIdentity?: string | null } };
const main = new URL("../src/main.ts", import.meta.url).pathname;

function startOperator(namespace: string, identity: string, port: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      main,
      "--kubeconfig",
      testKubeconfig(),
      "--watch-namespace",
      namespace,
      "--lease-namespace",
      namespace,
      "--identity",
      identity,
      "--metrics-port",
      String(port),
    ],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, FERRY_LOG_LEVEL: "warn" } },
  );
  return child;
}

const get = async (port: number, path: string) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: "" };
  }
};

test("one operator leads; a killed leader hands over within a lease period; SIGTERM releases at once", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  const ports = [await freePort(), await freePort()];
  const operators = [
    startOperator(namespace, "op-a", ports[0]!),
    startOperator(namespace, "op-b", ports[1]!),
  ];
  t.after(() => {
    for (const o of operators) o.kill("SIGKILL");
  });
  const holder = async () =>
    (
      await kube.get<Lease>({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace,
        name: "ferry-operator",
      })
    )?.spec.holderIdentity ?? "";
  const leader = await eventually("a leader", async () => (await holder()) || undefined);
  const leaderIndex = leader.startsWith("op-a") ? 0 : 1;
  const standbyIndex = 1 - leaderIndex;

  // Both are ready (a standby is healthy); only the leader reconciles.
  await eventually(
    "both ready",
    async () =>
      (await get(ports[0]!, "/readyz")).status === 200 && (await get(ports[1]!, "/readyz")).status === 200,
  );
  await kube.create(gatewayFixture("ha", gatewayIn(namespace, { nodes: { min: 0, max: 0 } })));
  await eventually("reconciled", async () => {
    const g = await kube.get<LogicalGateway>({
      apiVersion: "ferry.dev/v1alpha1",
      kind: "LogicalGateway",
      namespace,
      name: "ha",
    });
    return Boolean(g?.status?.publicKey);
  });
  const metrics = await get(ports[leaderIndex]!, "/metrics");
  assert.match(metrics.body, /ferry_reconcile_total\{controller="gateway",result="[a-z]+"\} [1-9]/);
  assert.match(metrics.body, /ferry_gateway_nodes\{namespace="[^"]+",gateway="ha",state="Online"\} 0/);
  assert.match(metrics.body, /ferry_gateway_jobs\{namespace="[^"]+",gateway="ha",phase="Pending"\} 0/);
  assert.match(metrics.body, /ferry_workqueue_depth\{controller="gateway"\}/);
  assert.doesNotMatch(
    (await get(ports[standbyIndex]!, "/metrics")).body,
    /ferry_reconcile_total\{controller="gateway"/,
  );

  // The leader dies without a word: the standby takes over once the lease expires.
  const killedAt = Date.now();
  operators[leaderIndex]!.kill("SIGKILL");
  const next = await eventually(
    "the standby leads",
    async () => {
      const h = await holder();
      return h.startsWith(standbyIndex === 0 ? "op-a" : "op-b") ? h : undefined;
    },
    { timeoutMs: 40_000 },
  );
  const failoverMs = Date.now() - killedAt;
  assert.ok(failoverMs < 25_000, `failover within one lease period plus a renew (took ${failoverMs} ms)`);
  assert.ok(next);
  await kube.mergePatch(
    { apiVersion: "ferry.dev/v1alpha1", kind: "LogicalGateway", namespace, name: "ha" },
    { spec: { registration: { rotation: "after-failover" } } },
  );
  await eventually("the new leader reconciles", async () => {
    const s = await kube.get<KubeObject & { data?: Record<string, string> }>({
      apiVersion: "v1",
      kind: "Secret",
      namespace,
      name: "ha-registration",
    });
    return Buffer.from(s?.data?.rotation ?? "", "base64").toString() === "after-failover";
  });

  // A graceful stop releases the lease: nobody has to wait for it to expire.
  const survivor = operators[standbyIndex]!;
  const exited = new Promise<number | null>((resolve) => survivor.once("exit", (code) => resolve(code)));
  survivor.kill("SIGTERM");
  assert.equal(await exited, 0, "exits 0 on SIGTERM");
  assert.equal(await holder(), "", "the lease is released");
});
