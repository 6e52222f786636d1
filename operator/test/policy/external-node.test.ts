import assert from "node:assert/strict";
import { test } from "node:test";
import { type ExternalNodeInput, shouldRemoveExternalNode } from "../../src/policy/external-node.ts";

const NOW = new Date("2025-03-04T10:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const cases: { name: string; input: Omit<ExternalNodeInput, "now">; remove: boolean; reason: string }[] = [
  {
    name: "recent heartbeat",
    input: { lastHeartbeat: ago(30_000), offlineAfterMs: DAY },
    remove: false,
    reason: "RecentlySeen",
  },
  {
    name: "offline for less than the period",
    input: { lastHeartbeat: ago(DAY - 1), offlineAfterMs: DAY },
    remove: false,
    reason: "RecentlySeen",
  },
  {
    name: "offline for exactly the period",
    input: { lastHeartbeat: ago(DAY), offlineAfterMs: DAY },
    remove: true,
    reason: "OfflineTooLong",
  },
  {
    name: "offline for longer",
    input: { lastHeartbeat: ago(3 * DAY), offlineAfterMs: DAY },
    remove: true,
    reason: "OfflineTooLong",
  },
  {
    name: "never heartbeated, registered long ago",
    input: { createdAt: ago(2 * DAY), offlineAfterMs: DAY },
    remove: true,
    reason: "NeverHeartbeated",
  },
  {
    name: "never heartbeated, registered a minute ago",
    input: { createdAt: ago(60_000), offlineAfterMs: DAY },
    remove: false,
    reason: "RecentlySeen",
  },
  {
    name: "the heartbeat wins over the creation time",
    input: { lastHeartbeat: ago(HOUR), createdAt: ago(10 * DAY), offlineAfterMs: DAY },
    remove: false,
    reason: "RecentlySeen",
  },
  {
    name: "ageing out disabled (absent)",
    input: { lastHeartbeat: ago(100 * DAY) },
    remove: false,
    reason: "AgeOutDisabled",
  },
  {
    name: "ageing out disabled (0)",
    input: { lastHeartbeat: ago(100 * DAY), offlineAfterMs: 0 },
    remove: false,
    reason: "AgeOutDisabled",
  },
  { name: "no timestamp at all", input: { offlineAfterMs: DAY }, remove: false, reason: "NoTimestamp" },
  {
    name: "unparseable heartbeat falls back to creation",
    input: { lastHeartbeat: "not a time", createdAt: ago(2 * DAY), offlineAfterMs: DAY },
    remove: true,
    reason: "NeverHeartbeated",
  },
];

for (const c of cases) {
  test(`shouldRemoveExternalNode: ${c.name}`, () => {
    const decision = shouldRemoveExternalNode({ ...c.input, now: NOW });
    assert.equal(decision.remove, c.remove, decision.message);
    assert.equal(decision.reason, c.reason);
    assert.ok(decision.message.length > 0);
  });
}

test("shouldRemoveExternalNode: the message carries the durations", () => {
  const { message } = shouldRemoveExternalNode({
    lastHeartbeat: ago(3 * DAY),
    offlineAfterMs: DAY,
    now: NOW,
  });
  assert.match(message, /3d/);
  assert.match(message, /1d/);
});
