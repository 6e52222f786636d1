/**
 * The fear: "I can't add a machine outside the cluster." A gateway runs one managed node (a pod);
 * `ferry register` prints the `ferry-agent --key ...` command, and that command, run as a plain
 * process with nothing mounted, joins the gateway: it shows up as an external GatewayNode, Online,
 * counted in the gateway's status and job capacity. With the managed node cordoned for
 * maintenance, copies go to the external node and come out exact. SIGTERMed in the middle of a
 * copy, it leaves cleanly: exit code 0, its job handed back (NodeShutdown) and finished by the
 * managed node from the checkpoint, every row exactly once, its lease released and the node shown
 * Offline.
 */
import assert from "node:assert/strict";
import os from "node:os";
import { test } from "node:test";
import { eventually } from "@ferry/hack/testing";
import {
  exitOf,
  getNode,
  nodeLease,
  register,
  runningOn,
  setCordoned,
  startExternalAgent,
  waitNodeState,
} from "./support/external.ts";
import {
  assertExact,
  copyJob,
  getGateway,
  SLOW_QUERY,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();
const EXTERNAL = "vm-ext";

test("an external node joins with the key ferry register prints, runs copies, and leaves cleanly on SIGTERM", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    spec: { nodes: { min: 1, max: 1 } },
    rows: 12_000,
  });
  const { kube, namespace, gateway } = stack;
  const managed = "gw-0";

  // What a user runs: `ferry register`, then the printed command on the machine.
  const registration = await register(stack, EXTERNAL);
  assert.match(registration.output, new RegExp(`add an external node to gateway "${gateway}"`));
  assert.equal(registration.args[0], "--key", registration.output);
  assert.deepEqual(registration.args.slice(2), ["--node", EXTERNAL]);
  const agent = await startExternalAgent(stack, EXTERNAL, registration.args);

  // It joins: an external GatewayNode of this gateway, Online, counted by the gateway.
  const joined = await eventually(
    `node ${EXTERNAL} Online, with its agent's report`,
    async () => {
      const n = await getNode(stack, EXTERNAL);
      return n?.status?.state === "Online" && n.status.lastHeartbeatTime ? n : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  assert.equal(joined.spec.managed, false, "an external node");
  assert.equal(joined.spec.gatewayRef.name, gateway);
  assert.equal(joined.status?.hostName, os.hostname(), "it reports the machine it runs on");
  assert.equal(joined.status?.podName, undefined, "no pod behind it");
  assert.equal(joined.status?.version, "1.0.0");
  const counted = await eventually(
    "the gateway counting 2 Online nodes (1 managed, 1 external) and 4 job slots",
    async () => {
      const s = (await getGateway(kube, namespace, gateway))?.status;
      return s?.phase === "Online" && s.nodes?.online === 2 && s.jobs?.limit === 4 ? s : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  assert.equal(counted.nodes?.desired, 1, "external nodes are not the autoscaler's");
  assert.equal(counted.nodes?.ready, 2);
  assert.equal(counted.nodes?.offline, 0);

  // Maintenance on the managed node: cordoned by hand, so the next copy can only go to the
  // external node (the autoscaler leaves a hand-cordoned node alone).
  await setCordoned(stack, managed, true);
  await eventually(
    "the cordoned node's slots out of the gateway's capacity",
    async () => (await getGateway(kube, namespace, gateway))?.status?.jobs?.limit === 2,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await kube.create(copyJob(stack, "on-external", { partitions: 4 }));
  const first = await waitFinal(stack, "on-external", 120_000);
  assert.equal(first.status?.phase, "Succeeded", JSON.stringify(first.status?.attempts));
  assert.deepEqual(
    first.status?.attempts?.map((a) => [a.node, a.result]),
    [[EXTERNAL, "Succeeded"]],
    "one attempt, on the external node",
  );
  await assertExact(stack, first);

  // A slow copy on the external node; the managed node comes back from maintenance; the external
  // node is stopped (SIGTERM) after its first committed partition.
  await kube.create(copyJob(stack, "handed-back", { query: SLOW_QUERY, partitions: 12, parallelism: 2 }));
  const running = await runningOn(stack, "handed-back", EXTERNAL, 1, 120_000);
  await setCordoned(stack, managed, false);
  const stoppedAt = Date.now();
  agent.kill("SIGTERM");
  const code = await exitOf(agent, 30_000);
  t.diagnostic(`SIGTERM to exit: ${Date.now() - stoppedAt} ms`);
  assert.equal(code, 0, `clean exit; last lines:\n${agent.lines.slice(-5).join("\n")}`);
  assert.ok(
    !agent.lines.some((l) => l.startsWith("ferry-agent:")),
    `no failure line: ${agent.lines.filter((l) => l.startsWith("ferry-agent:")).join("\n")}`,
  );
  const lease = await nodeLease(stack, EXTERNAL);
  assert.equal(lease?.spec.holderIdentity ?? "", "", "the node lease is released, not left to expire");

  const offline = await waitNodeState(stack, EXTERNAL, "Offline");
  t.diagnostic(
    `SIGTERM to Offline: ${Date.now() - stoppedAt} ms (${offline.status?.conditions?.find((c) => c.type === "Ready")?.reason})`,
  );
  const after = await eventually(
    "the gateway counting the external node Offline",
    async () => {
      const s = (await getGateway(kube, namespace, gateway))?.status;
      return s?.nodes?.online === 1 && s.nodes.offline === 1 ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  assert.equal(after.jobs?.limit, 2, "only the managed node's slots remain");
  assert.equal((await getNode(stack, EXTERNAL))?.spec.managed, false, "the node stays registered");

  // The copy it was running is finished by the managed node, from the checkpoint, exactly.
  const done = await waitFinal(stack, "handed-back", 180_000);
  assert.equal(done.status?.phase, "Succeeded", JSON.stringify(done.status?.attempts));
  const attempts = done.status?.attempts ?? [];
  assert.deepEqual(
    attempts.map((a) => [a.node, a.result, a.reason]),
    [
      [EXTERNAL, "Failed", "NodeShutdown"],
      [managed, "Succeeded", attempts[1]?.reason],
    ],
    JSON.stringify(attempts),
  );
  const committedBefore = running.status?.checkpoint?.committedPartitions?.length ?? 0;
  t.diagnostic(`handed back after ${committedBefore}+ committed partitions; finished on ${managed}`);
  await assertExact(stack, done);
});
