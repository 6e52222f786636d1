import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NodeState } from "@ferry/crds";
import fc from "fast-check";
import {
  type AutoscaleNode,
  SCALE_IN_SETTLE_MS,
  type ScaleDecision,
  type ScaleInput,
  scaleDecision,
} from "../../src/policy/autoscale.ts";

const NOW = new Date("2025-03-04T10:00:00Z");
const MINUTE = 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

type NodeMod = (n: AutoscaleNode) => void;

/** An Online, idle-but-not-long, uncordoned node with limit 4. */
function node(name: string, ...mods: NodeMod[]): AutoscaleNode {
  const n: AutoscaleNode = { name, state: "Online", runningJobs: 0, limit: 4, cordoned: false };
  for (const mod of mods) mod(n);
  return n;
}
const running =
  (jobs: number): NodeMod =>
  (n) => {
    n.runningJobs = jobs;
  };
const full: NodeMod = (n) => {
  n.runningJobs = n.limit;
};
const state =
  (s: NodeState): NodeMod =>
  (n) => {
    n.state = s;
  };
const idleFor =
  (ms: number): NodeMod =>
  (n) => {
    n.idleSince = ago(ms);
  };
const drainingFor =
  (ms: number): NodeMod =>
  (n) => {
    n.cordoned = true;
    n.scaleInSince = ago(ms);
  };
const cordoned: NodeMod = (n) => {
  n.cordoned = true;
};
const limit =
  (l: number): NodeMod =>
  (n) => {
    n.limit = l;
  };

function input(nodes: AutoscaleNode[], more: Partial<ScaleInput> = {}): ScaleInput {
  return { min: 1, max: 10, nodes, pendingJobs: 0, quietPeriodMs: 10 * MINUTE, now: NOW, ...more };
}

interface Case {
  name: string;
  input: ScaleInput;
  expect: Partial<Omit<ScaleDecision, "message">>;
  says?: string[];
}

const cases: Case[] = [
  {
    name: "nothing to do",
    input: input([node("gw-0", running(1)), node("gw-1")]),
    expect: { desired: 2, scaleOut: 0, scaleIn: [], cordon: [], uncordon: [], reason: "Steady" },
  },
  {
    name: "jobs waiting beyond free slots: enough nodes for them at the typical limit",
    input: input([node("gw-0", full), node("gw-1", full)], { pendingJobs: 9 }),
    expect: { desired: 5, scaleOut: 3, reason: "JobsWaiting" },
    says: ["9 jobs waiting", "0 free slots", "adding 3 nodes at 4 jobs per node"],
  },
  {
    name: "free slots absorb the waiting jobs",
    input: input([node("gw-0", running(1)), node("gw-1", running(1))], { pendingJobs: 6 }),
    expect: { desired: 2, scaleOut: 0, reason: "Steady" },
  },
  {
    name: "only the jobs beyond the free slots need nodes",
    input: input([node("gw-0", running(2)), node("gw-1", full)], { pendingJobs: 3 }),
    expect: { desired: 3, scaleOut: 1, reason: "JobsWaiting" },
  },
  {
    name: "scale out is capped at max",
    input: input([node("gw-0", full), node("gw-1", full)], { pendingJobs: 20, max: 3 }),
    expect: { desired: 3, scaleOut: 1, reason: "JobsWaiting" },
    says: ["capped at spec.nodes.max 3"],
  },
  {
    name: "at max with jobs waiting: say so",
    input: input([node("gw-0", full), node("gw-1", full)], { pendingJobs: 5, max: 2 }),
    expect: { desired: 2, scaleOut: 0, reason: "AtMax" },
    says: ["raise it"],
  },
  {
    name: "the typical limit is the median of the nodes' limits",
    input: input([node("gw-0", limit(2), full), node("gw-1", limit(8), full), node("gw-2", limit(8), full)], {
      pendingJobs: 16,
    }),
    expect: { desired: 5, scaleOut: 2 },
  },
  {
    name: "a node still starting (Offline, no job) counts as capacity on the way",
    input: input([node("gw-0", full), node("gw-1", full), node("gw-2", state("Offline"))], {
      pendingJobs: 4,
    }),
    expect: { desired: 3, scaleOut: 0, reason: "Steady" },
  },
  {
    name: "a new node that reports no limit yet counts at the typical limit",
    input: input([node("gw-0", full), node("gw-1", state("Offline"), limit(0))], { pendingJobs: 4 }),
    expect: { scaleOut: 0 },
  },
  {
    name: "an Inactive node is no capacity",
    input: input([node("gw-0", full), node("gw-1", state("Inactive"))], { pendingJobs: 2 }),
    expect: { desired: 3, scaleOut: 1 },
  },
  {
    name: "a node cordoned by hand is no capacity, and is not removed",
    input: input([node("gw-0", full), node("gw-1", cordoned, idleFor(60 * MINUTE))], { pendingJobs: 2 }),
    expect: { desired: 3, scaleOut: 1, cordon: [], scaleIn: [] },
  },
  {
    name: "with no node, the gateway's default limit plans the scale out",
    input: input([], { pendingJobs: 10, min: 0, defaultLimit: 5 }),
    expect: { desired: 2, scaleOut: 2 },
  },
  {
    name: "below min: scale out at once",
    input: input([node("gw-0")], { min: 3 }),
    expect: { desired: 3, scaleOut: 2, reason: "BelowMin" },
    says: ["below spec.nodes.min 3"],
  },
  {
    name: "min 0 and max 0: an external-only gateway never gets managed nodes",
    input: input([], { min: 0, max: 0, pendingJobs: 5 }),
    expect: { desired: 0, scaleOut: 0, reason: "AtMax" },
  },
  {
    name: "above max: cordon the surplus, idle nodes first, then the highest index",
    input: input([node("gw-0"), node("gw-1"), node("gw-2"), node("gw-3", running(2))], { max: 2 }),
    expect: { desired: 2, cordon: ["gw-2", "gw-1"], scaleIn: [], reason: "AboveMax" },
  },
  {
    name: "above max: a node with jobs is cordoned when it must, and waits to drain",
    input: input([node("gw-0", running(1)), node("gw-1", running(3))], { max: 1, min: 0 }),
    expect: { desired: 1, cordon: ["gw-1"], reason: "AboveMax" },
  },
  {
    name: "quiet: idle nodes beyond min are cordoned for removal, highest index first",
    input: input(
      [
        node("gw-0", idleFor(30 * MINUTE)),
        node("gw-1", idleFor(30 * MINUTE)),
        node("gw-2", idleFor(30 * MINUTE)),
      ],
      { min: 1 },
    ),
    expect: { desired: 1, cordon: ["gw-2", "gw-1"], scaleIn: [], reason: "Idle" },
  },
  {
    name: "quiet: the index is numeric (gw-10 before gw-9)",
    input: input([node("gw-9", idleFor(30 * MINUTE)), node("gw-10", idleFor(30 * MINUTE)), node("gw-0")], {
      min: 2,
    }),
    expect: { cordon: ["gw-10"] },
  },
  {
    name: "quiet: a node busy now is never cordoned for quiet",
    input: input([node("gw-0", idleFor(30 * MINUTE)), node("gw-1", running(1), idleFor(30 * MINUTE))], {
      min: 0,
    }),
    expect: { cordon: ["gw-0"] },
  },
  {
    name: "not idle for the whole quiet period yet",
    input: input([node("gw-0"), node("gw-1", idleFor(9 * MINUTE))]),
    expect: { desired: 2, cordon: [], reason: "Steady" },
  },
  {
    name: "idleness unknown: not a candidate",
    input: input([node("gw-0"), node("gw-1")]),
    expect: { cordon: [] },
  },
  {
    name: "no scale in while jobs wait, even with free slots",
    input: input([node("gw-0", running(1)), node("gw-1", idleFor(60 * MINUTE))], { pendingJobs: 1 }),
    expect: { desired: 2, cordon: [], reason: "Steady" },
  },
  {
    name: "an Upgrading node is the update controller's, not a scale-in candidate",
    input: input([node("gw-0"), node("gw-1", state("Upgrading"), idleFor(60 * MINUTE))], { min: 0 }),
    expect: { cordon: [] },
  },
  {
    name: "a node cordoned for removal, drained and settled, is deleted",
    input: input([node("gw-0"), node("gw-1", drainingFor(SCALE_IN_SETTLE_MS))]),
    expect: { desired: 1, scaleIn: ["gw-1"], cordon: [], uncordon: [] },
    says: ["deleting drained gw-1"],
  },
  {
    name: "just cordoned: wait for the dispatcher to notice before deleting",
    input: input([node("gw-0"), node("gw-1", drainingFor(SCALE_IN_SETTLE_MS - 1))]),
    expect: { desired: 1, scaleIn: [] },
  },
  {
    name: "a job slipped in before the cordon: never delete a node with a running job",
    input: input([node("gw-0"), node("gw-1", drainingFor(5 * MINUTE), running(1))]),
    expect: { desired: 1, scaleIn: [] },
    says: ["waiting for gw-1 (1 job) to drain"],
  },
  {
    name: "demand came back: keep a node being removed rather than create one",
    input: input([node("gw-0", full), node("gw-1", drainingFor(5 * MINUTE))], { pendingJobs: 2 }),
    expect: { desired: 2, scaleOut: 0, uncordon: ["gw-1"], scaleIn: [] },
  },
  {
    name: "demand came back beyond the nodes being removed: keep them and add more",
    input: input([node("gw-0", full), node("gw-1", drainingFor(5 * MINUTE))], { pendingJobs: 8 }),
    expect: { desired: 3, scaleOut: 1, uncordon: ["gw-1"] },
  },
  {
    name: "min raised while a node is being removed: keep it",
    input: input([node("gw-0"), node("gw-1", drainingFor(5 * MINUTE))], { min: 2 }),
    expect: { desired: 2, scaleOut: 0, uncordon: ["gw-1"], scaleIn: [], reason: "BelowMin" },
  },
];

describe("scaleDecision", () => {
  for (const c of cases) {
    test(c.name, () => {
      const decision = scaleDecision(c.input);
      const { message, ...rest } = decision;
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(rest[key as keyof typeof rest], value, `${key}: ${message}`);
      }
      for (const fragment of c.says ?? []) {
        assert.ok(message.includes(fragment), `"${message}" should mention "${fragment}"`);
      }
    });
  }

  test("invariants hold for any input", () => {
    const states: NodeState[] = ["Online", "Limited", "Offline", "Upgrading", "Inactive"];
    const arbNode = fc.record({
      state: fc.constantFrom(...states),
      runningJobs: fc.integer({ min: 0, max: 6 }),
      limit: fc.integer({ min: 0, max: 6 }),
      cordoned: fc.boolean(),
      idleMinutes: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      drainingSeconds: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(arbNode, { maxLength: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 40 }),
        (specs, min, extra, pendingJobs) => {
          const nodes = specs.map((s, i) => ({
            name: `gw-${i}`,
            state: s.state,
            runningJobs: s.runningJobs,
            limit: s.limit,
            cordoned: s.cordoned || s.drainingSeconds !== undefined,
            ...(s.idleMinutes !== undefined ? { idleSince: ago(s.idleMinutes * MINUTE) } : {}),
            ...(s.drainingSeconds !== undefined ? { scaleInSince: ago(s.drainingSeconds * 1000) } : {}),
          }));
          const max = min + extra;
          const d = scaleDecision(input(nodes, { min, max, pendingJobs }));
          const byName = new Map(nodes.map((n) => [n.name, n]));
          assert.ok(d.desired >= min && d.desired <= max, `desired ${d.desired} within ${min}..${max}`);
          assert.ok(d.scaleOut >= 0);
          for (const name of d.scaleIn) {
            const n = byName.get(name)!;
            assert.equal(n.runningJobs, 0, "never delete a node with a running job");
            assert.ok(n.scaleInSince !== undefined, "only nodes cordoned for removal are deleted");
          }
          for (const name of d.cordon) {
            const n = byName.get(name)!;
            assert.equal(n.scaleInSince, undefined);
            if (nodes.filter((x) => x.scaleInSince === undefined).length <= max) {
              assert.equal(n.runningJobs, 0, "within bounds, only idle nodes are cordoned for removal");
            }
          }
          for (const name of d.uncordon) assert.ok(byName.get(name)!.scaleInSince !== undefined);
          assert.ok(d.scaleOut === 0 || d.cordon.length === 0, "never scale out and in at once");
        },
      ),
    );
  });
});
