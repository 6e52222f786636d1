/**
 * How often the gateway's status is written on a busy gateway: a change of the job counts alone
 * waits for JOB_COUNTS_INTERVAL_MS after the last write, and the last count still arrives with no
 * further event to prompt it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogicalGateway } from "@ferry/crds";
import { copyJobFixture, gatewayFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testNamespace } from "@ferry/hack/testing";
import { JOB_COUNTS_INTERVAL_MS } from "../src/gateway/status-step.ts";
import { gatewayIn, jobIn } from "./support/fixtures.ts";
import { notingApplies } from "./support/noting-kube.ts";
import { gatewayToucher, runOperator } from "./support/operator.ts";

const FERRY = "ferry.dev/v1alpha1";
const JOBS = 40;

test("job counts alone are written at most once a second, and the last count is written", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  await kube.create(gatewayFixture("east", gatewayIn(namespace, { nodes: { min: 0, max: 0 } })));
  const noting = notingApplies(kube);
  const operator = await runOperator(t, noting.kube, namespace);
  const gatewayRef = { apiVersion: FERRY, kind: "LogicalGateway", namespace, name: "east" };
  const gateway = () => kube.get<LogicalGateway>(gatewayRef);
  const statusWrites = () => noting.applied.filter((a) => a.what === "LogicalGateway/east/status");
  const touch = gatewayToucher(kube, operator, gatewayRef);
  // Settled: keys and certificates issued, so a reconcile has no status change left to write.
  await eventually("the gateway's steps done", async () => {
    const conditions = (await gateway())?.status?.conditions ?? [];
    const done = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
    return done("RegistrationReady") && done("CredentialKeyReady") && done("TLSReady");
  });
  await eventually("a reconcile that writes no status", async () => {
    const before = statusWrites().length;
    await touch();
    return statusWrites().length === before;
  });

  const from = statusWrites().length;
  const started = Date.now();
  const jobs = Array.from({ length: JOBS }, (_, i) => copyJobFixture(`job-${i}`, jobIn(namespace, "east")));
  // Eight at a time, so the pending count changes many times within each interval. Each batch
  // also touches the gateway, whose own changes are reconciled at once (unlike its jobs'): only
  // the status step's own rule keeps those reconciles from writing the new counts.
  for (let i = 0; i < jobs.length; i += 8) {
    await Promise.all(jobs.slice(i, i + 8).map((j) => kube.create(j)));
    await touch();
  }
  await eventually(
    "every job counted as pending",
    async () => (await gateway())?.status?.jobs?.pending === JOBS,
  );
  const elapsed = Date.now() - started;

  const writes = statusWrites().slice(from);
  assert.ok(writes.length >= 1, "the counts were written");
  for (let i = 1; i < writes.length; i++) {
    const gap = (writes[i]?.atMs ?? 0) - (writes[i - 1]?.atMs ?? 0);
    // Measured where the apply is sent; the interval runs from the start of each reconcile.
    assert.ok(gap >= JOB_COUNTS_INTERVAL_MS - 250, `status writes ${gap} ms apart`);
  }
  assert.ok(
    writes.length <= Math.ceil(elapsed / JOB_COUNTS_INTERVAL_MS) + 1,
    `${writes.length} status writes in ${elapsed} ms`,
  );
});
