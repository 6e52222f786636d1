/**
 * README command 1, the main job, as a user runs it: a control plane of its own, PostgreSQL and
 * Azurite, the operator installed with Helm, agents as real processes, a credential sealed with
 * `ferry encrypt`, a copy, and the output checked against the source. Smaller table, same path.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const demo = new URL("../hack/src/demo.ts", import.meta.url).pathname;

test("the demo copies a table through operator and agents, exactly", async (t) => {
  const cluster = `e2e-demo-${randomBytes(3).toString("hex")}`;
  t.after(() => run(process.execPath, [demo, "down", "--cluster", cluster]).catch(() => {}));
  const { stdout } = await run(process.execPath, [demo, "--rows", "50000", "--exit", "--cluster", cluster], {
    maxBuffer: 16 << 20,
    timeout: 8 * 60_000,
  });
  assert.match(stdout, /rows copied\s+50,000 of 50,000 in the source \(exact\)/);
  assert.match(stdout, /sealing the Blob account key .* `ferry encrypt`/);
  assert.match(stdout, /logicalgateway\.ferry\.dev\/demo\s+Online/);
  assert.match(stdout, /ran on\s+attempt 1 on demo-\d: Succeeded/);
});
