import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ConcurrencyInput, concurrencyDecision } from "../../src/policy/autotune.ts";

const NOW = new Date("2025-03-04T10:00:00Z");
const MINUTE = 60_000;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

/** A node with every one of its 4 slots busy, jobs waiting, CPU and memory idle: ripe for a raise. */
function tune(more: Partial<ConcurrencyInput> = {}): ConcurrencyInput {
  return {
    limit: 4,
    maxPerNode: 16,
    cpuPercent: 30,
    availableMemoryBytes: 6 * GiB,
    totalMemoryBytes: 8 * GiB,
    runningJobs: 4,
    pendingJobs: 3,
    now: NOW,
    cooldownMs: 5 * MINUTE,
    ...more,
  };
}

const cases: {
  name: string;
  input: ConcurrencyInput;
  limit: number;
  changed: boolean;
  reason: string;
  says?: string[];
}[] = [
  {
    name: "idle resources, every slot busy, jobs waiting: raise by one",
    input: tune(),
    limit: 5,
    changed: true,
    reason: "ResourcesIdle",
    says: ["CPU 30%", "6144 MiB of 8192 MiB", "4 of 4 slots busy", "3 jobs waiting", "from 4 to 5"],
  },
  {
    name: "within the cooldown: hold the raise",
    input: tune({ lastChangeAt: ago(2 * MINUTE) }),
    limit: 4,
    changed: false,
    reason: "CoolingDown",
    says: ["in 3m"],
  },
  {
    name: "cooldown over: raise",
    input: tune({ lastChangeAt: ago(5 * MINUTE) }),
    limit: 5,
    changed: true,
    reason: "ResourcesIdle",
  },
  {
    name: "free slots: no raise",
    input: tune({ runningJobs: 3 }),
    limit: 4,
    changed: false,
    reason: "Steady",
    says: ["slots are free"],
  },
  {
    name: "no job waits: no raise",
    input: tune({ pendingJobs: 0 }),
    limit: 4,
    changed: false,
    reason: "Steady",
    says: ["no job waits"],
  },
  {
    name: "at maxPerNode: no raise",
    input: tune({ limit: 16, runningJobs: 16 }),
    limit: 16,
    changed: false,
    reason: "Steady",
    says: ["maxPerNode 16"],
  },
  {
    name: "CPU between the thresholds: hold (hysteresis band)",
    input: tune({ cpuPercent: 75 }),
    limit: 4,
    changed: false,
    reason: "Steady",
    says: ["CPU is not below 60%"],
  },
  {
    name: "memory not idle: hold",
    input: tune({ availableMemoryBytes: 2 * GiB }),
    limit: 4,
    changed: false,
    reason: "Steady",
    says: ["memory is not idle"],
  },
  {
    name: "one more job would run the node out of memory: hold",
    input: tune({ totalMemoryBytes: 4 * GiB, availableMemoryBytes: 1.3 * GiB, runningJobs: 2, limit: 2 }),
    limit: 2,
    changed: false,
    reason: "Steady",
    says: ["one more job"],
  },
  {
    name: "total memory unknown: absolute idle threshold",
    input: tune({ totalMemoryBytes: undefined, availableMemoryBytes: 2 * GiB }),
    limit: 5,
    changed: true,
    reason: "ResourcesIdle",
  },
  {
    name: "CPU saturated: lower by a quarter",
    input: tune({ cpuPercent: 95, limit: 8, runningJobs: 8 }),
    limit: 6,
    changed: true,
    reason: "CpuSaturated",
    says: ["CPU 95%", "above 90%", "from 8 to 6"],
  },
  {
    name: "CPU saturated at a small limit: lower by at least one",
    input: tune({ cpuPercent: 99, limit: 3, runningJobs: 3 }),
    limit: 2,
    changed: true,
    reason: "CpuSaturated",
  },
  {
    name: "memory low (fraction of total): lower",
    input: tune({ availableMemoryBytes: 500 * MiB }),
    limit: 3,
    changed: true,
    reason: "MemoryLow",
    says: ["below 819 MiB"],
  },
  {
    name: "memory low (absolute, total unknown): lower",
    input: tune({ availableMemoryBytes: 200 * MiB, totalMemoryBytes: undefined }),
    limit: 3,
    changed: true,
    reason: "MemoryLow",
    says: ["below 256 MiB"],
  },
  {
    name: "saturated within the cooldown: hold",
    input: tune({ cpuPercent: 95, lastChangeAt: ago(MINUTE) }),
    limit: 4,
    changed: false,
    reason: "CoolingDown",
    says: ["saturated"],
  },
  {
    name: "saturated at limit 1: nothing lower",
    input: tune({ cpuPercent: 97, limit: 1, runningJobs: 1 }),
    limit: 1,
    changed: false,
    reason: "Saturated",
  },
  {
    name: "limit above maxPerNode (max lowered): clamp at once, cooldown or not",
    input: tune({ limit: 10, maxPerNode: 6, lastChangeAt: ago(MINUTE) }),
    limit: 6,
    changed: true,
    reason: "OutOfBounds",
  },
  {
    name: "limit below 1: clamp to 1",
    input: tune({ limit: 0 }),
    limit: 1,
    changed: true,
    reason: "OutOfBounds",
  },
  {
    name: "no metrics reported: hold",
    input: tune({ cpuPercent: undefined }),
    limit: 4,
    changed: false,
    reason: "NoMetrics",
  },
];

describe("concurrencyDecision", () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = concurrencyDecision(c.input);
      assert.equal(d.limit, c.limit, d.message);
      assert.equal(d.changed, c.changed, d.message);
      assert.equal(d.reason, c.reason, d.message);
      assert.equal(d.changed, d.limit !== c.input.limit);
      for (const fragment of c.says ?? []) {
        assert.ok(d.message.includes(fragment), `"${d.message}" should mention "${fragment}"`);
      }
    });
  }

  test("does not flap: CPU swinging between idle and saturated changes the limit at most once per cooldown", () => {
    const cooldownMs = 5 * MINUTE;
    let limit = 8;
    let lastChangeAt: Date | undefined;
    const changes: number[] = [];
    for (let minute = 0; minute < 30; minute++) {
      const now = new Date(NOW.getTime() + minute * MINUTE);
      const d = concurrencyDecision(
        tune({
          limit,
          runningJobs: limit,
          cpuPercent: minute % 2 === 0 ? 95 : 20,
          now,
          cooldownMs,
          lastChangeAt,
        }),
      );
      if (d.changed) {
        limit = d.limit;
        lastChangeAt = now;
        changes.push(minute);
      }
    }
    for (let i = 1; i < changes.length; i++) {
      assert.ok(changes[i]! - changes[i - 1]! >= 5, `changes at minutes ${changes.join(", ")}`);
    }
    assert.ok(limit >= 1 && limit <= 16);
  });
});
