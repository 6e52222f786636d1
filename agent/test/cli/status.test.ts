/**
 * `ferry status` against the real API server: gateways, nodes and jobs written as the operator and
 * agents would write them come back joined in one view, as a table and as JSON; the namespace
 * comes from the kubeconfig context like kubectl's; `kubectl ferry` runs the same command.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { before, test } from "node:test";
import { copyJobFixture, gatewayFixture, nodeFixture } from "@ferry/crds/fixtures";
import { installCrds, kubectl, testKube, testNamespace } from "@ferry/hack/testing";
import type { StatusView } from "../../src/cli/status.ts";
import { ago, assertFails, assertOk, BIN, ferry, inNamespace, run, setStatus } from "./helpers.ts";

before(async () => {
  await installCrds(testKube());
});

async function populated(t: Parameters<typeof testNamespace>[0]) {
  const env = await testNamespace(t);
  const { kube, namespace } = env;
  const ns = inNamespace(namespace);
  const [demo, other] = await Promise.all([
    kube.create(gatewayFixture("demo", ns)),
    kube.create(gatewayFixture("other", ns)),
  ]);
  await Promise.all([
    setStatus(kube, demo, {
      phase: "Limited",
      version: "1.4.0",
      nodes: { desired: 2, ready: 1, online: 1, limited: 1 },
      dispatcher: "demo-0",
      jobs: { running: 1, limit: 8, pending: 1 },
      publicKey: "unused-here",
    }),
    setStatus(kube, other, { phase: "NeedsRegistration" }),
  ]);
  const nodes = await Promise.all([
    kube.create(
      nodeFixture("demo-0", ns, (n) => {
        n.spec.managed = true;
      }),
    ),
    kube.create(
      nodeFixture("vm-1", ns, (n) => {
        n.spec.cordoned = true;
      }),
    ),
  ]);
  await Promise.all([
    setStatus(kube, nodes[0]!, {
      state: "Online",
      role: "Dispatcher",
      version: "1.4.0",
      lastHeartbeatTime: ago(3),
      jobs: { running: 1, limit: 4 },
      podName: "demo-0",
    }),
    setStatus(kube, nodes[1]!, {
      state: "Limited",
      role: "Worker",
      version: "1.3.9",
      lastHeartbeatTime: ago(400),
      jobs: { running: 0, limit: 4 },
      hostName: "vm-1.corp",
    }),
  ]);
  const jobs = await Promise.all([
    kube.create(copyJobFixture("orders", ns)),
    kube.create(copyJobFixture("queued", ns)),
    kube.create(copyJobFixture("elsewhere", ns, (j) => (j.spec.gatewayRef.name = "other"))),
  ]);
  await Promise.all([
    setStatus(kube, jobs[0]!, {
      phase: "Running",
      node: "demo-0",
      attempt: 2,
      startTime: ago(120),
      progress: {
        percent: 75,
        rows: 1_234_567,
        rowsPerSecond: 12_345,
        partitionsDone: 3,
        partitionsTotal: 4,
      },
    }),
    setStatus(kube, jobs[1]!, { phase: "Pending" }),
  ]);
  return env;
}

test("status joins gateways, nodes and jobs", async (t) => {
  const { kubeconfig, namespace } = await populated(t);
  const at = { kubeconfig, namespace };
  const [one, all, asJson, limited] = await Promise.all([
    ferry(["status", "--gateway", "demo"], at),
    ferry(["status", "-o", "wide"], at),
    ferry(["status", "-o", "json"], at),
    ferry(["status", "--gateway", "demo", "--jobs", "1"], at),
  ]);

  assertOk(one);
  assert.equal(one.stderr, "");
  const lines = one.stdout.split("\n");
  assert.match(lines[0]!, /^GATEWAY +PHASE +VERSION +NODES +DISPATCHER +JOBS +PENDING +AGE$/);
  assert.match(lines[1]!, /^demo +Limited +1\.4\.0 +1\/2 +demo-0 +1\/8 +1 +\d+s$/);
  assert.match(one.stdout, /\nNODE +STATE +ROLE +VERSION +JOBS +HEARTBEAT +TYPE\n/);
  assert.match(one.stdout, /\ndemo-0 +Online +Dispatcher +1\.4\.0 +1\/4 +\d+s +managed\n/);
  assert.match(one.stdout, /\nvm-1 +Limited,Cordoned +Worker +1\.3\.9 +0\/4 +\d+m\d*s? +external\n/);
  assert.match(one.stdout, /\nJOB +PHASE +NODE +ATTEMPT +PROGRESS +ROWS +THROUGHPUT +AGE\n/);
  assert.match(one.stdout, /\norders +Running +demo-0 +2\/3 +75% +1\.23M +12\.3k rows\/s +\d+s\n/);
  assert.match(one.stdout, /\nqueued +Pending +- +- +- +- +- +\d+s\n/);
  assert.ok(!one.stdout.includes("elsewhere"), "other gateways' jobs are filtered out");

  assertOk(all);
  assert.match(all.stdout, /\nother +NeedsRegistration +- +- +- +- +1 +\d+s\n/);
  assert.match(all.stdout, /\nNODE +GATEWAY +STATE .* HOST +CPU +MEMORY\n/);
  assert.match(all.stdout, /\nvm-1 +demo +Limited,Cordoned .* vm-1\.corp +- +-\n/);
  assert.match(all.stdout, /\nelsewhere +other +Pending .* pg-source +blob-sink\n/);

  assertOk(asJson);
  const view = JSON.parse(asJson.stdout) as StatusView;
  assert.equal(view.namespace, namespace);
  assert.deepEqual(
    view.gateways.map((g) => [g.name, g.phase, g.dispatcher, g.jobs.pending]),
    [
      ["demo", "Limited", "demo-0", 1],
      // No count from the operator yet: its one job has no phase, so it waits.
      ["other", "NeedsRegistration", undefined, 1],
    ],
  );
  assert.deepEqual(
    view.nodes.map((n) => [n.name, n.state, n.role, n.cordoned, n.managed, n.jobs.running, n.jobs.limit]),
    [
      ["demo-0", "Online", "Dispatcher", false, true, 1, 4],
      ["vm-1", "Limited", "Worker", true, false, 0, 4],
    ],
  );
  assert.ok(view.nodes[1]!.heartbeatAgeSeconds! >= 400);
  const orders = view.jobs.find((j) => j.name === "orders");
  assert.deepEqual(
    [orders?.phase, orders?.node, orders?.attempt, orders?.maxAttempts, orders?.rows, orders?.percent],
    ["Running", "demo-0", 2, 3, 1_234_567, 75],
  );
  assert.deepEqual(view.jobs.map((j) => j.name).sort(), ["elsewhere", "orders", "queued"]);

  assertOk(limited);
  assert.match(limited.stdout, /\(1 older job not shown; --jobs 0 shows all\)\n$/);
});

test("the namespace comes from the kubeconfig context, and kubectl ferry is the same command", async (t) => {
  const { kubeconfig, namespace } = await populated(t);
  const dir = await mkdtemp(join(tmpdir(), "ferry-kubeconfig-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const own = join(dir, "kubeconfig");
  await copyFile(kubeconfig, own);
  await kubectl(["config", "set-context", "--current", `--namespace=${namespace}`], own);

  const kubectlBin = process.env.FERRY_BIN ? join(process.env.FERRY_BIN, "kubectl") : "kubectl";
  const env = { ...process.env, PATH: [BIN, dirname(process.execPath), process.env.PATH].join(delimiter) };
  const [fromContext, defaultNamespace, plugin, script] = await Promise.all([
    ferry(["status", "--gateway", "demo", "-o", "json"], { kubeconfig: own }),
    ferry(["status", "--gateway", "demo"], { kubeconfig }),
    run(kubectlBin, ["ferry", "status", "--gateway", "demo", "--kubeconfig", own], { env }),
    run(join(BIN, "ferry"), ["status", "--gateway", "demo", "--kubeconfig", own], { env }),
  ]);
  assertOk(fromContext);
  assert.equal((JSON.parse(fromContext.stdout) as StatusView).namespace, namespace);
  assertFails(defaultNamespace, 1, /LogicalGateway "demo" not found in namespace "default"/);
  assertOk(plugin);
  assert.match(plugin.stdout, /^GATEWAY .*\ndemo +Limited /);
  assertOk(script);
  const withoutAge = (out: string) => out.split("\n")[1]!.replace(/\S+$/, "");
  assert.equal(withoutAge(script.stdout), withoutAge(plugin.stdout));
});
