/**
 * `helm install` of the chart into the local control plane: the operator's pod runs as a real
 * process on the process node (hack/src/kubelet), passes its readiness probe, and reconciles a
 * gateway through its in-cluster ServiceAccount identity and the chart's RBAC.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import type { KubeObject, Pod } from "@ferry/common";
import { podIsReady } from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import { gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, onProcessNode, testKubeconfig, testNamespace } from "@ferry/hack/testing";
import { stringify } from "yaml";

const run = promisify(execFile);
const chart = new URL("..", import.meta.url).pathname;
const helmBin = process.env.FERRY_BIN ? join(process.env.FERRY_BIN, "helm") : "helm";

test("helm install runs the operator, which becomes ready and reconciles a gateway", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  const dir = await mkdtemp(join(tmpdir(), "ferry-helm-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const values = join(dir, "values.yaml");
  await writeFile(values, stringify({ watchNamespace: namespace, ...onProcessNode, logLevel: "info" }));
  const helm = (args: string[]) =>
    run(helmBin, [...args, "--kubeconfig", testKubeconfig(), "--namespace", namespace], {
      maxBuffer: 16 << 20,
    });
  const release = `ferry-${namespace.slice(-6)}`;
  await helm(["install", release, chart, "--values", values]);
  t.after(() => helm(["uninstall", release, "--wait"]).catch(() => {}));

  const pod = await eventually(
    "operator pod Ready (its /readyz answered on the process node)",
    async () => {
      const pods = await kube.list<Pod>("v1", "Pod", namespace, {
        labelSelector: "app.kubernetes.io/component=operator",
      });
      return pods.find((p) => podIsReady(p));
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(pod.spec.nodeName, "process-node-0", "a real process, not a kwok pod");
  const lease = await eventually("leader lease held", async () => {
    const l = await kube.get<KubeObject & { spec: { holderIdentity?: string } }>({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace,
      name: "ferry-operator",
    });
    return l?.spec.holderIdentity ? l : undefined;
  });
  assert.match(lease.spec.holderIdentity ?? "", new RegExp(`^${pod.metadata.name}-`));

  await kube.create(
    gatewayFixture("helm-gw", (g: LogicalGateway) => {
      g.metadata.namespace = namespace;
      g.spec = { nodes: { min: 0, max: 0 } };
    }),
  );
  const gw = await eventually(
    "the gateway reconciled by the installed operator",
    async () => {
      const g = await kube.get<LogicalGateway>({
        apiVersion: "ferry.dev/v1alpha1",
        kind: "LogicalGateway",
        namespace,
        name: "helm-gw",
      });
      return g?.status?.publicKey ? g : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(gw.status?.phase, "NeedsRegistration");
  assert.equal(gw.status?.registrationSecretName, "helm-gw-registration");
});
