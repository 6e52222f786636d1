import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import { connect, type Kube } from "@ferry/common/kube";

export interface TestEnv {
  kube: Kube;
  kubeconfig: string;
  namespace: string;
}

let shared: Kube | undefined;

/** The cluster of this test run (started by test-global-setup.ts). */
export function testKubeconfig(): string {
  const path = process.env.FERRY_KUBECONFIG;
  if (!path) throw new Error("FERRY_KUBECONFIG is not set: run the tests with `npm test` (hack/run test)");
  return path;
}

export function testKube(): Kube {
  shared ??= connect(testKubeconfig());
  return shared;
}

/** A DNS-1123 label from a test name, unique per call. */
export function namespaceName(testName: string): string {
  const slug = testName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return `t-${slug || "test"}-${randomBytes(3).toString("hex")}`;
}

/**
 * A fresh namespace for one test, deleted after it. Deletion is not awaited to completion
 * (namespace finalisation takes seconds and proves nothing about the test).
 */
export async function testNamespace(t: TestContext): Promise<TestEnv> {
  const kube = testKube();
  const namespace = namespaceName(t.name);
  await kube.create({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: namespace, labels: { "ferry.dev/test": "true" } },
  });
  t.after(async () => {
    if (!process.env.FERRY_KEEP_NAMESPACES)
      await kube.delete({ apiVersion: "v1", kind: "Namespace", name: namespace });
  });
  return { kube, kubeconfig: testKubeconfig(), namespace };
}
