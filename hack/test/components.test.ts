import assert from "node:assert/strict";
import { test } from "node:test";
import { type ClusterLayout, componentSpecs, kubeconfigYaml } from "../src/cluster/components.ts";
import { pkiPaths } from "../src/cluster/pki.ts";
import { namespaceName } from "../src/testing/namespace.ts";

const layout: ClusterLayout = {
  dir: "/c",
  ports: { etcdClient: 1, etcdPeer: 2, apiserver: 3, controllerManager: 4, scheduler: 5, kwok: 6 },
  pki: pkiPaths("/c/pki"),
  kubeconfig: "/c/kubeconfig",
  serviceCidr: "10.0.0.0/24",
};

test("components start in dependency order, each on its own port", () => {
  const specs = componentSpecs(layout);
  assert.deepEqual(
    specs.map((s) => s.name),
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"],
  );
  const api = specs[1]!;
  assert.ok(api.args.includes("--etcd-servers=http://127.0.0.1:1"));
  assert.ok(api.args.includes("--secure-port=3"));
  assert.ok(api.args.includes("--authorization-mode=RBAC"), "RBAC is what gateway keys are scoped by");
  assert.equal(api.health.url, "https://127.0.0.1:3/readyz");
  assert.equal(api.health.asAdmin, true);
  // Everything binds to loopback: two clusters side by side differ only by ports and folder.
  for (const spec of specs) {
    assert.ok(
      spec.args.every((a) => !/(=|\/\/)0\.0\.0\.0\b/.test(a)),
      `${spec.name} must not listen beyond loopback`,
    );
  }
});

test("kwok only manages nodes annotated as fake", () => {
  const kwok = componentSpecs(layout).find((s) => s.name === "kwok")!;
  assert.ok(kwok.args.includes("--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"));
  assert.ok(!kwok.args.some((a) => a.startsWith("--manage-all-nodes")));
});

test("kubeconfig carries its credentials inline", () => {
  const yaml = kubeconfigYaml("https://127.0.0.1:3", "CA", "CERT", "KEY");
  assert.match(yaml, /server: https:\/\/127\.0\.0\.1:3/);
  assert.match(yaml, new RegExp(`certificate-authority-data: ${Buffer.from("CA").toString("base64")}`));
  assert.match(yaml, new RegExp(`client-key-data: ${Buffer.from("KEY").toString("base64")}`));
  assert.doesNotMatch(yaml, /certificate-authority:|client-key:/);
});

test("test namespaces are valid DNS labels and unique", () => {
  const a = namespaceName("CRDs: reject 45 invalid objects / with field paths!");
  const b = namespaceName("CRDs: reject 45 invalid objects / with field paths!");
  assert.match(a, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.ok(a.length <= 63);
  assert.notEqual(a, b);
});
