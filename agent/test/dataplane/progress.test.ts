/** Progress with an injected clock: rates over a window, percent per partition, throttling. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CopyProgress } from "../../src/dataplane/index.ts";
import { ProgressTracker } from "../../src/dataplane/progress.ts";

test("rows, bytes, partitions, rates and percent", () => {
  let now = 0;
  const emitted: CopyProgress[] = [];
  const t = new ProgressTracker({
    partitions: [
      { id: "a", estimatedRows: 1000 },
      { id: "b", estimatedRows: 1000 },
      { id: "c", estimatedRows: 1000 },
      { id: "d" },
    ],
    emit: (p) => emitted.push(p),
    intervalMs: 1000,
    now: () => now,
  });
  t.alreadyCommitted("a", 1000, 50_000);
  now = 2000;
  t.addBytes(25_000);
  t.addRows("b", 500);
  const p = emitted.at(-1)!;
  assert.equal(p.rows, 1500);
  assert.equal(p.partitionsDone, 1);
  assert.equal(p.partitionsTotal, 4);
  assert.equal(p.rowsPerSecond, 250, "rows of earlier attempts are not this attempt's rate");
  assert.equal(p.bytesPerSecond, 12_500);
  assert.equal(p.percent, Math.floor((100 * 1.5) / 4));
  const before = emitted.length;
  now = 2500;
  t.addRows("b", 10);
  assert.equal(emitted.length, before, "throttled to one emit per interval");
  t.addRows("c", 5000);
  now = 4000;
  t.maybeEmit();
  assert.ok(emitted.at(-1)!.percent! <= 99, "never 100 before the end");
  t.emitNow(true);
  assert.equal(emitted.at(-1)!.percent, 100);
});

test("a failed partition's rows are taken back out", () => {
  const t = new ProgressTracker({ partitions: [{ id: "a" }], now: () => 0 });
  t.addRows("a", 10);
  t.addBytes(100);
  t.discard("a", 100);
  const s = t.snapshot();
  assert.equal(s.rows, 0);
  assert.equal(s.bytes, 0);
});
