import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MaintenanceWindow, NodeState } from "@ferry/crds";
import {
  inMaintenanceWindow,
  nextMaintenanceWindow,
  type RolloutAction,
  type RolloutInput,
  type RolloutNode,
  rolloutStep,
} from "../../src/policy/rollout.ts";

// A Tuesday.
const NOW = new Date("2025-03-04T10:00:00Z");
const MINUTE = 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

type NodeMod = (n: RolloutNode) => void;

/** A healthy node on the old version 1.0.0, no job, not cordoned. */
function node(name: string, ...mods: NodeMod[]): RolloutNode {
  const n: RolloutNode = {
    name,
    version: "1.0.0",
    agentVersion: "1.0.0",
    state: "Online",
    runningJobs: 0,
    cordoned: false,
  };
  for (const mod of mods) mod(n);
  return n;
}
const on =
  (version: string): NodeMod =>
  (n) => {
    n.version = version;
    n.agentVersion = version;
  };
const state =
  (s: NodeState, reason?: string): NodeMod =>
  (n) => {
    n.state = s;
    if (reason) n.stateReason = reason;
  };
const running =
  (jobs: number): NodeMod =>
  (n) => {
    n.runningJobs = jobs;
  };
const draining =
  (ms: number): NodeMod =>
  (n) => {
    n.cordoned = true;
    n.drainStartedAt = ago(ms);
  };
/** Replaced ms ago, its pod moving from 1.0.0 to `to`. */
const replaced =
  (ms: number, to = "1.1.0"): NodeMod =>
  (n) => {
    n.cordoned = true;
    n.drainStartedAt ??= ago(ms + MINUTE);
    n.upgradeStartedAt = ago(ms);
    n.rollbackVersion = n.version;
    n.agentVersion = to;
  };
const dispatcher: NodeMod = (n) => {
  n.dispatcher = true;
};
const handCordoned: NodeMod = (n) => {
  n.cordoned = true;
  n.wasCordoned = true;
};
/** What the agent reports, whatever its pod should run. */
const reports =
  (version: string): NodeMod =>
  (n) => {
    n.version = version;
  };
const without =
  (key: "version" | "rollbackVersion"): NodeMod =>
  (n) => {
    delete n[key];
  };

function rollout(nodes: RolloutNode[], more: Partial<RolloutInput> = {}): RolloutInput {
  return {
    targetVersion: "1.1.0",
    policy: "Auto",
    drainTimeoutSeconds: 600,
    nodes,
    readyTimeoutMs: 10 * MINUTE,
    now: NOW,
    ...more,
  };
}

const cases: { name: string; input: RolloutInput; expect: Partial<RolloutAction> }[] = [
  {
    name: "every node on the target: done",
    input: rollout([node("gw-0", on("1.1.0")), node("gw-1", on("1.1.0"))]),
    expect: { action: "Done", reason: "UpToDate" },
  },
  {
    name: "no managed node: done",
    input: rollout([]),
    expect: { action: "Done" },
  },
  {
    name: "a new node created on the target that has not reported yet is not outdated",
    input: rollout([
      node("gw-0", on("1.1.0")),
      node("gw-1", on("1.1.0"), without("version"), state("Offline")),
    ]),
    expect: { action: "Done" },
  },
  {
    name: "outdated nodes, Auto, no window: cordon the first",
    input: rollout([node("gw-0"), node("gw-1")]),
    expect: { action: "Cordon", node: "gw-0", wasCordoned: false, reason: "UpdateStarted" },
  },
  {
    name: "the dispatcher goes last",
    input: rollout([node("gw-0", dispatcher), node("gw-1", running(3))]),
    expect: { action: "Cordon", node: "gw-1" },
  },
  {
    name: "an unhealthy node goes first",
    input: rollout([node("gw-0"), node("gw-1", state("Offline"))]),
    expect: { action: "Cordon", node: "gw-1" },
  },
  {
    name: "fewer running jobs first",
    input: rollout([node("gw-0", running(2)), node("gw-1", running(1))]),
    expect: { action: "Cordon", node: "gw-1" },
  },
  {
    name: "a node cordoned by hand is remembered as such",
    input: rollout([node("gw-0", handCordoned)]),
    expect: { action: "Cordon", node: "gw-0", wasCordoned: true },
  },
  {
    name: "Manual: only say an update is available",
    input: rollout([node("gw-0"), node("gw-1", on("1.1.0")), node("gw-2")], { policy: "Manual" }),
    expect: { action: "UpdateAvailable", node: "gw-0", outdated: ["gw-0", "gw-2"] },
  },
  {
    name: "outside the window: wait for the next opening",
    input: rollout([node("gw-0")], { window: { start: "22:00", durationMinutes: 120 } }),
    expect: { action: "OutsideWindow", node: "gw-0", nextWindowAt: new Date("2025-03-04T22:00:00Z") },
  },
  {
    name: "inside the window: cordon",
    input: rollout([node("gw-0")], { window: { start: "09:30", durationMinutes: 60 } }),
    expect: { action: "Cordon", node: "gw-0" },
  },
  {
    name: "window on other days only: the next opening is on the right day",
    input: rollout([node("gw-0")], { window: { start: "09:30", durationMinutes: 60, days: ["Sat", "Sun"] } }),
    expect: { action: "OutsideWindow", nextWindowAt: new Date("2025-03-08T09:30:00Z") },
  },
  {
    name: "draining with running jobs: wait, until the drain timeout",
    input: rollout([node("gw-0", draining(2 * MINUTE), running(2)), node("gw-1")]),
    expect: { action: "WaitForDrain", node: "gw-0", until: new Date(NOW.getTime() + 8 * MINUTE) },
  },
  {
    name: "drained: replace, remembering the version to roll back to",
    input: rollout([node("gw-0", draining(2 * MINUTE)), node("gw-1")]),
    expect: {
      action: "Replace",
      node: "gw-0",
      version: "1.1.0",
      rollbackVersion: "1.0.0",
      reason: "Drained",
    },
  },
  {
    name: "drain timeout: replace anyway",
    input: rollout([node("gw-0", draining(10 * MINUTE), running(2))]),
    expect: { action: "Replace", node: "gw-0", reason: "DrainTimeout" },
  },
  {
    name: "a started node is finished even outside the window",
    input: rollout([node("gw-0", draining(MINUTE))], { window: { start: "22:00", durationMinutes: 60 } }),
    expect: { action: "Replace", node: "gw-0" },
  },
  {
    name: "a started node is finished even when the policy became Manual",
    input: rollout([node("gw-0", replaced(MINUTE), on("1.1.0"))], { policy: "Manual" }),
    expect: { action: "Uncordon", node: "gw-0" },
  },
  {
    name: "only one node at a time: the one in progress, whatever the others",
    input: rollout([node("gw-0", state("Offline")), node("gw-1", draining(MINUTE), running(1))]),
    expect: { action: "WaitForDrain", node: "gw-1" },
  },
  {
    name: "replaced, back Online on the target: uncordon",
    input: rollout([node("gw-0", replaced(2 * MINUTE), reports("1.1.0")), node("gw-1")]),
    expect: { action: "Uncordon", node: "gw-0", keepCordoned: false, reason: "NodeUpdated" },
  },
  {
    name: "replaced, Limited only because it is the minority version: uncordon",
    input: rollout([
      node("gw-0", replaced(2 * MINUTE), reports("1.1.0"), state("Limited", "VersionMismatch")),
      node("gw-1"),
    ]),
    expect: { action: "Uncordon", node: "gw-0" },
  },
  {
    name: "replaced, Limited for another reason: not back yet",
    input: rollout([
      node("gw-0", replaced(2 * MINUTE), reports("1.1.0"), state("Limited", "CredentialKeyNotLoaded")),
    ]),
    expect: { action: "WaitForOnline", node: "gw-0" },
  },
  {
    name: "replaced, Online but still the old version (old lease): not back yet",
    input: rollout([node("gw-0", replaced(MINUTE))]),
    expect: { action: "WaitForOnline", node: "gw-0", until: new Date(NOW.getTime() + 9 * MINUTE) },
  },
  {
    name: "a node cordoned by hand stays cordoned after its update",
    input: rollout([node("gw-0", handCordoned, replaced(MINUTE), reports("1.1.0"))]),
    expect: { action: "Uncordon", node: "gw-0", keepCordoned: true },
  },
  {
    name: "not back within the ready timeout: roll back",
    input: rollout([node("gw-0", replaced(10 * MINUTE), state("Upgrading")), node("gw-1")]),
    expect: { action: "RollBack", node: "gw-0", version: "1.0.0", reason: "NotOnlineInTime" },
  },
  {
    name: "roll back without a recorded version: the other nodes' majority",
    input: rollout([
      node("gw-0", replaced(11 * MINUTE), state("Offline"), without("rollbackVersion")),
      node("gw-1", on("0.9.0")),
      node("gw-2", on("0.9.0")),
    ]),
    expect: { action: "RollBack", node: "gw-0", version: "0.9.0" },
  },
  {
    name: "target changed while a node was moving: replace it again",
    input: rollout([node("gw-0", replaced(MINUTE))], { targetVersion: "1.2.0" }),
    expect: {
      action: "Replace",
      node: "gw-0",
      version: "1.2.0",
      rollbackVersion: "1.0.0",
      reason: "TargetChanged",
    },
  },
  {
    name: "target reverted while a node drained: put it back",
    input: rollout([node("gw-0", draining(MINUTE), running(1))], { targetVersion: "1.0.0" }),
    expect: { action: "Uncordon", node: "gw-0", reason: "AlreadyUpToDate" },
  },
  {
    name: "halted after a rollback: nothing more",
    input: rollout([node("gw-0"), node("gw-1")], { failedVersion: "1.1.0" }),
    expect: { action: "None", reason: "RolloutHalted" },
  },
  {
    name: "halted: the rolled-back node is back on the old version: uncordon",
    input: rollout([node("gw-0", replaced(MINUTE, "1.0.0")), node("gw-1")], { failedVersion: "1.1.0" }),
    expect: { action: "Uncordon", node: "gw-0", reason: "RolledBack" },
  },
  {
    name: "halted: the rolled-back node is not back yet",
    input: rollout([node("gw-0", replaced(MINUTE, "1.0.0"), state("Upgrading"))], { failedVersion: "1.1.0" }),
    expect: { action: "WaitForOnline", node: "gw-0", reason: "RollingBack" },
  },
  {
    name: "halted: the rolled-back node does not come back either: stop and say so",
    input: rollout([node("gw-0", replaced(20 * MINUTE, "1.0.0"), state("Offline"))], {
      failedVersion: "1.1.0",
    }),
    expect: { action: "None", reason: "RollbackNotOnline" },
  },
  {
    name: "halted: a node that was only draining goes back in service",
    input: rollout([node("gw-0", draining(MINUTE), running(1))], { failedVersion: "1.1.0" }),
    expect: { action: "Uncordon", node: "gw-0", reason: "RolloutHalted" },
  },
  {
    name: "a failed version other than the target does not halt",
    input: rollout([node("gw-0")], { failedVersion: "1.0.5" }),
    expect: { action: "Cordon", node: "gw-0" },
  },
];

describe("rolloutStep", () => {
  for (const c of cases) {
    test(c.name, () => {
      const action = rolloutStep(c.input);
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(
          (action as unknown as Record<string, unknown>)[key],
          value,
          `${key}: ${action.message}`,
        );
      }
      assert.ok(action.message.length > 0);
    });
  }
});

describe("maintenance window", () => {
  const window = (w: Partial<MaintenanceWindow>): MaintenanceWindow => ({
    start: "23:00",
    durationMinutes: 120,
    ...w,
  });
  const cases: { name: string; window: MaintenanceWindow; at: string; inside: boolean; next?: string }[] = [
    {
      name: "before the opening",
      window: window({}),
      at: "2025-03-04T22:59:00Z",
      inside: false,
      next: "2025-03-04T23:00:00Z",
    },
    { name: "at the opening", window: window({}), at: "2025-03-04T23:00:00Z", inside: true },
    { name: "across midnight", window: window({}), at: "2025-03-05T00:30:00Z", inside: true },
    { name: "at the end (exclusive)", window: window({}), at: "2025-03-05T01:00:00Z", inside: false },
    {
      name: "across midnight into a day not listed: the opening day counts",
      window: window({ days: ["Sat"] }),
      at: "2025-03-09T00:30:00Z",
      inside: true,
    },
    {
      name: "a day not listed",
      window: window({ days: ["Sat"] }),
      at: "2025-03-04T23:30:00Z",
      inside: false,
      next: "2025-03-08T23:00:00Z",
    },
    {
      name: "a window longer than a day",
      window: window({ start: "00:00", durationMinutes: 36 * 60, days: ["Mon"] }),
      at: "2025-03-04T11:00:00Z",
      inside: true,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(inMaintenanceWindow(c.window, new Date(c.at)), c.inside);
      if (c.next) assert.deepEqual(nextMaintenanceWindow(c.window, new Date(c.at)), new Date(c.next));
    });
  }
});

/**
 * A tiny model of the operator and the nodes: applies each action as the operator would (the
 * annotations of rollout.ts), and lets replaced nodes come back (or not) a few minutes later.
 */
function simulate(names: string[], opts: { comesBack: (version: string) => boolean; stepMs?: number }) {
  const nodes = names.map((name) => node(name, running(name === "gw-0" ? 2 : 0)));
  let failedVersion: string | undefined;
  let now = NOW;
  const log: string[] = [];
  for (let step = 0; step < 200; step++) {
    const action = rolloutStep(rollout(nodes, { now, failedVersion, readyTimeoutMs: 10 * MINUTE }));
    log.push(`${action.action}${"node" in action ? ` ${action.node}` : ""}`);
    // At most one node is away from service at any time.
    assert.ok(nodes.filter((n) => n.cordoned).length <= 1, log.join(", "));
    if (action.action === "Done" || action.action === "None") return { action, nodes, log };
    const n = nodes.find((x) => "node" in action && x.name === action.node);
    switch (action.action) {
      case "Cordon":
        n!.wasCordoned = action.wasCordoned;
        n!.cordoned = true;
        n!.drainStartedAt = now.toISOString();
        break;
      case "WaitForDrain":
        n!.runningJobs = Math.max(0, n!.runningJobs - 1);
        break;
      case "Replace":
        n!.upgradeStartedAt = now.toISOString();
        if (action.rollbackVersion) n!.rollbackVersion = action.rollbackVersion;
        n!.agentVersion = action.version;
        n!.state = "Upgrading";
        break;
      case "RollBack":
        failedVersion = "1.1.0";
        n!.upgradeStartedAt = now.toISOString();
        n!.agentVersion = action.version!;
        n!.state = "Upgrading";
        break;
      case "WaitForOnline": {
        const started = new Date(n!.upgradeStartedAt!).getTime();
        if (now.getTime() - started >= 3 * MINUTE && opts.comesBack(n!.agentVersion!)) {
          n!.version = n!.agentVersion!;
          n!.state = "Online";
        }
        break;
      }
      case "Uncordon":
        n!.cordoned = action.keepCordoned;
        delete n!.drainStartedAt;
        delete n!.upgradeStartedAt;
        delete n!.rollbackVersion;
        delete n!.wasCordoned;
        break;
      default:
        throw new Error(`unexpected ${action.action}`);
    }
    now = new Date(now.getTime() + (opts.stepMs ?? MINUTE));
  }
  throw new Error(`no end: ${log.join(", ")}`);
}

describe("a whole rollout", () => {
  test("three nodes move one at a time, drained first, and end on the target", () => {
    const { action, nodes, log } = simulate(["gw-0", "gw-1", "gw-2"], { comesBack: () => true });
    assert.equal(action.action, "Done");
    assert.deepEqual(
      nodes.map((n) => [n.name, n.version, n.cordoned]),
      [
        ["gw-0", "1.1.0", false],
        ["gw-1", "1.1.0", false],
        ["gw-2", "1.1.0", false],
      ],
    );
    // gw-0 has jobs, so it goes last; each node: Cordon, Replace, waits, Uncordon.
    const order = log.filter((l) => l.startsWith("Cordon")).map((l) => l.split(" ")[1]);
    assert.deepEqual(order, ["gw-1", "gw-2", "gw-0"]);
    assert.ok(log.includes("WaitForDrain gw-0"), "gw-0's jobs were waited for");
  });

  test("a version that never comes Online is rolled back on the first node, and the rollout stops", () => {
    const { action, nodes, log } = simulate(["gw-0", "gw-1", "gw-2"], { comesBack: (v) => v !== "1.1.0" });
    assert.equal(action.action, "None");
    assert.equal(action.reason, "RolloutHalted");
    assert.equal(log.filter((l) => l.startsWith("Replace")).length, 1, "only one node was touched");
    assert.ok(log.includes("RollBack gw-1"));
    assert.deepEqual(
      nodes.map((n) => [n.name, n.version, n.cordoned]),
      [
        ["gw-0", "1.0.0", false],
        ["gw-1", "1.0.0", false],
        ["gw-2", "1.0.0", false],
      ],
    );
  });
});
