/**
 * The Helm chart: it lints, renders, and every object it renders is accepted by the real API
 * server (a server-side dry run validates against the real schemas and admission).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import type { KubeObject } from "@ferry/common";
import { kubectl, testNamespace } from "@ferry/hack/testing";
import { parseAllDocuments, stringify } from "yaml";

const run = promisify(execFile);
// helm template assumes an old Kubernetes unless told; the chart requires a recent one.
const KUBE_VERSION = "1.34.0";
const chart = new URL("..", import.meta.url).pathname;
const helmBin = process.env.FERRY_BIN ? join(process.env.FERRY_BIN, "helm") : "helm";

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(helmBin, args, { maxBuffer: 16 << 20 });
  return stdout;
}

async function render(namespace: string, ...sets: string[]): Promise<KubeObject[]> {
  const out = await helm([
    "template",
    "ferry",
    chart,
    "--kube-version",
    KUBE_VERSION,
    "--namespace",
    namespace,
    ...sets.flatMap((s) => ["--set", s]),
  ]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

describe("charts/ferry", () => {
  test("helm lint passes, strictly", async () => {
    const out = await helm(["lint", "--strict", chart]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test("values.schema.json refuses a mistyped value, naming it", async () => {
    await assert.rejects(
      () => helm(["template", "ferry", chart, "--kube-version", KUBE_VERSION, "--set", "replicas=zero"]),
      (err: Error & { stderr?: string }) =>
        /at '\/replicas': got string, want integer/.test(err.stderr ?? ""),
    );
    await assert.rejects(
      () => helm(["template", "ferry", chart, "--kube-version", KUBE_VERSION, "--set", "unknownKey=1"]),
      (err: Error & { stderr?: string }) =>
        /additional properties 'unknownKey' not allowed/.test(err.stderr ?? ""),
    );
  });

  test("the default render has the operator, least-privilege RBAC and a metrics Service", async () => {
    const objects = await render("ferry-system");
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      "ClusterRole/ferry-operator",
      "ClusterRoleBinding/ferry-operator",
      "Deployment/ferry-operator",
      "Role/ferry-operator-leader",
      "RoleBinding/ferry-operator-leader",
      "Service/ferry-operator-metrics",
      "ServiceAccount/ferry-operator",
    ]);
    const role = objects.find((o) => o.kind === "ClusterRole") as KubeObject & {
      rules: { resources: string[]; verbs: string[] }[];
    };
    for (const rule of role.rules) {
      assert.ok(!rule.verbs.includes("*") && !rule.resources.includes("*"), "no wildcard grants");
      assert.ok(!rule.resources.includes("nodes") && !rule.resources.includes("clusterroles"));
    }
    const deployment = objects.find((o) => o.kind === "Deployment") as KubeObject & {
      spec: {
        template: { spec: { containers: { image: string; securityContext: { runAsNonRoot: boolean } }[] } };
      };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    assert.equal(container.image, "ferry/operator:0.1.0");
    assert.equal(container.securityContext.runAsNonRoot, true);
  });

  test("every rendered object is accepted by the API server (server-side dry run)", async (t) => {
    const { namespace } = await testNamespace(t);
    const dir = await mkdtemp(join(tmpdir(), "ferry-chart-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const [i, sets] of [[], [`watchNamespace=${namespace}`, "replicas=2"]].entries()) {
      const objects = await render(namespace, ...sets);
      const file = join(dir, `render-${i}.yaml`);
      await writeFile(file, objects.map((o) => `---\n${stringify(o)}`).join(""));
      const out = await kubectl(["apply", "--dry-run=server", "--server-side", "-n", namespace, "-f", file]);
      const accepted = out.trim().split("\n");
      assert.equal(accepted.length, objects.length, out);
      assert.ok(
        accepted.every((line) => /serverside-applied \(server dry run\)$/.test(line)),
        out,
      );
    }
  });
});
