/** How the operator counts a gateway's jobs: a node's jobs beyond its slots wait, as Pending ones do. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CopyJobStatus } from "@ferry/crds";
import { copyJobFixture } from "@ferry/crds/fixtures";
import { jobCounts } from "../src/gateway/nodes-step.ts";

const job = (name: string, status?: CopyJobStatus) => {
  const j = copyJobFixture(name);
  if (status) j.status = status;
  return j;
};
const on = (node: string, phase: "Assigned" | "Running") => ({ phase, node, attempt: 1 });

test("jobs waiting in a node's queue count as waiting, not as busy slots", () => {
  const jobs = [
    job("new"),
    job("requeued", { phase: "Pending", attempt: 1 }),
    job("done", { phase: "Succeeded", node: "n1", attempt: 1 }),
    ...["r1", "r2", "r3"].map((n) => job(n, on("n1", "Running"))),
    job("starting", on("n1", "Assigned")),
    job("queued", on("n1", "Assigned")),
    job("alone", on("n2", "Assigned")),
  ];
  const limits: Record<string, number> = { n1: 4, n2: 2 };
  const counts = jobCounts(jobs, (node) => limits[node] ?? 1);
  assert.equal(counts.pending, 3, "two Pending and one beyond n1's 4 slots");
  assert.deepEqual(Object.fromEntries(counts.byNode), { n1: 5, n2: 1 });
  assert.deepEqual([counts.busy("n1"), counts.busy("n2"), counts.busy("n3")], [4, 1, 0]);
});
