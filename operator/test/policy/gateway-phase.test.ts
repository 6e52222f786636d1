import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GatewayPhase, NodeState } from "@ferry/crds";
import { compareVersions, gatewayPhase, majorityVersion } from "../../src/policy/gateway-phase.ts";

describe("gatewayPhase", () => {
  const cases: { name: string; states: NodeState[]; phase: GatewayPhase; reason: string; says?: string }[] = [
    { name: "no node", states: [], phase: "NeedsRegistration", reason: "NoNodes", says: "registration" },
    { name: "one node Online", states: ["Online"], phase: "Online", reason: "AllNodesOnline" },
    { name: "all Online", states: ["Online", "Online", "Online"], phase: "Online", reason: "AllNodesOnline" },
    { name: "one Offline", states: ["Offline"], phase: "Offline", reason: "NoNodeOnline" },
    {
      name: "none Online, mixed",
      states: ["Offline", "Limited", "Upgrading"],
      phase: "Offline",
      reason: "NoNodeOnline",
      says: "1 Limited, 1 Upgrading, 1 Offline",
    },
    {
      name: "some Online",
      states: ["Online", "Offline", "Online"],
      phase: "Limited",
      reason: "SomeNodesNotOnline",
      says: "2 of 3 nodes are Online (2 Online, 1 Offline)",
    },
    {
      name: "an Upgrading node makes the gateway Limited",
      states: ["Online", "Upgrading"],
      phase: "Limited",
      reason: "SomeNodesNotOnline",
    },
    {
      name: "a Limited node makes the gateway Limited",
      states: ["Limited", "Online"],
      phase: "Limited",
      reason: "SomeNodesNotOnline",
    },
    { name: "all Inactive", states: ["Inactive", "Inactive"], phase: "Offline", reason: "NoNodeOnline" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const decision = gatewayPhase(c.states);
      assert.equal(decision.phase, c.phase);
      assert.equal(decision.reason, c.reason);
      if (c.says) assert.ok(decision.message.includes(c.says), decision.message);
    });
  }
});

describe("majorityVersion", () => {
  const cases: { name: string; versions: (string | undefined)[]; majority: string | undefined }[] = [
    { name: "no node", versions: [], majority: undefined },
    { name: "no node reported", versions: [undefined, undefined], majority: undefined },
    { name: "one version", versions: ["1.2.0"], majority: "1.2.0" },
    { name: "clear majority", versions: ["1.2.0", "1.3.0", "1.2.0"], majority: "1.2.0" },
    { name: "unreported nodes do not count", versions: [undefined, undefined, "1.3.0"], majority: "1.3.0" },
    { name: "tie goes to the highest version", versions: ["1.2.0", "1.3.0"], majority: "1.3.0" },
    { name: "tie compares numerically", versions: ["1.10.0", "1.9.0"], majority: "1.10.0" },
    { name: "tie: a release beats its pre-release", versions: ["2.0.0-rc.1", "2.0.0"], majority: "2.0.0" },
    {
      name: "three-way tie",
      versions: ["1.2.0", "1.4.0", "1.3.0", "1.3.0", "1.4.0", "1.2.0"],
      majority: "1.4.0",
    },
    { name: "equal-comparing spellings tie-break by text", versions: ["1.2", "1.2.0"], majority: "1.2.0" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(majorityVersion(c.versions), c.majority);
      assert.equal(majorityVersion([...c.versions].reverse()), c.majority, "does not depend on order");
    });
  }
});

describe("compareVersions", () => {
  const cases: [string, string, number][] = [
    ["1.2.0", "1.2.0", 0],
    ["1.2.0", "1.10.0", -1],
    ["v1.3.0", "1.2.9", 1],
    ["1.2", "1.2.0", 0],
    ["1.2.0-rc.1", "1.2.0", -1],
    ["1.2.0-rc.2", "1.2.0-rc.1", 1],
    ["main", "dev", 1],
  ];
  for (const [a, b, order] of cases) {
    test(`${a} vs ${b}`, () => {
      assert.equal(compareVersions(a, b), order);
      assert.equal(compareVersions(b, a), -order || 0);
    });
  }
});
