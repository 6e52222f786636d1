/**
 * What a node reports about its CPU and memory. The parsing and arithmetic against table values;
 * then for real: an agent's sampler in a process that runs in a cgroup with a quarter of a core
 * and 300 MiB, burning CPU, reports its limit as saturated and its memory within the limit (the
 * machine's CPU, which it reported before, would be at most a quarter of one core's worth).
 * Needs to create cgroups (root, v1 or v2 with the cpu controller); skipped where it cannot.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  cgroupCpu,
  parseCpuMax,
  parseCpuStatUsage,
  parseProcCgroup,
  quotaCores,
  quotaPercent,
} from "../src/resources.ts";

describe("resources: parsing and arithmetic", () => {
  test("cgroup v2 cpu.max and cpu.stat", () => {
    assert.equal(parseCpuMax("max 100000\n"), undefined);
    assert.equal(parseCpuMax("50000 100000\n"), 0.5);
    assert.equal(parseCpuMax("200000 100000"), 2);
    assert.equal(parseCpuStatUsage("usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n"), 123456);
    assert.equal(parseCpuStatUsage("user_usec 1\n"), undefined);
  });
  test("cgroup v1 quota and period", () => {
    assert.equal(quotaCores("-1\n", "100000\n"), undefined);
    assert.equal(quotaCores("25000\n", "100000\n"), 0.25);
    assert.equal(quotaCores(undefined, "100000"), undefined);
  });
  test("percent of a quota, capped, never negative", () => {
    // 0.5 core-seconds used in 1 s under a 2-core limit: 25 %.
    assert.equal(quotaPercent(1_000_000, 1_500_000, 2, 1000), 25);
    assert.equal(quotaPercent(0, 400_000, 0.25, 1000), 100);
    assert.equal(quotaPercent(5, 1, 1, 1000), 0);
    assert.equal(quotaPercent(0, 1, 1, 0), 0);
  });
  test("/proc/self/cgroup, v2 and v1 lines", () => {
    const paths = parseProcCgroup(
      "12:cpu,cpuacct:/kubepods/pod1/c1\n4:memory:/kubepods/pod1/c1\n1:name=systemd:/x\n0::/kubepods.slice/c1\n",
    );
    assert.equal(paths.get(""), "/kubepods.slice/c1");
    assert.equal(paths.get("cpu"), "/kubepods/pod1/c1");
    assert.equal(paths.get("cpuacct"), "/kubepods/pod1/c1");
  });
  test("a v2 limit is the tightest from the process's cgroup up; a container sees its own as the root", async () => {
    const root = await mkdtemp(join(tmpdir(), "ferry-cgroup-"));
    try {
      await mkdir(join(root, "pod", "c1"), { recursive: true });
      await writeFile(join(root, "pod", "cpu.max"), "150000 100000\n");
      await writeFile(join(root, "pod", "c1", "cpu.max"), "max 100000\n");
      await writeFile(join(root, "pod", "c1", "cpu.stat"), "usage_usec 42\n");
      await writeFile(join(root, "self"), "0::/pod/c1\n");
      const c = await cgroupCpu(root, join(root, "self"));
      assert.equal(c?.cores, 1.5, "the parent's limit binds");
      assert.equal(await c?.usageMicros(), 42);
      // A container's view: /proc/self/cgroup names the host's path, the mount is its own cgroup.
      const own = await mkdtemp(join(tmpdir(), "ferry-cgroup-"));
      await writeFile(join(own, "cpu.max"), "50000 100000\n");
      await writeFile(join(own, "cpu.stat"), "usage_usec 7\n");
      const inContainer = await cgroupCpu(own, join(root, "self"));
      assert.equal(inContainer?.cores, 0.5);
      assert.equal(await inContainer?.usageMicros(), 7);
      await rm(own, { recursive: true });
      await writeFile(join(root, "pod", "cpu.max"), "max 100000\n");
      assert.equal(await cgroupCpu(root, join(root, "self")), undefined, "no limit anywhere");
    } finally {
      await rm(root, { recursive: true });
    }
  });
});

interface Made {
  /** cgroup.procs files the child joins. */
  procs: string[];
  remove(): Promise<void>;
}

/** cgroups with `cores` of CPU (none: no limit) and `memory` bytes, v2 or v1; undefined when none can be made. */
async function makeCgroups(
  name: string,
  cores: number | undefined,
  memory: number,
): Promise<Made | undefined> {
  const period = 100_000;
  const quota = cores === undefined ? undefined : String(Math.round(cores * period));
  const made: string[] = [];
  const remove = async () => {
    for (const dir of made.reverse()) await rmdir(dir).catch(() => {});
  };
  try {
    const v2 = "/sys/fs/cgroup";
    const controllers = await readFile(join(v2, "cgroup.subtree_control"), "utf8").catch(() => "");
    if (/\bcpu\b/.test(controllers) && /\bmemory\b/.test(controllers)) {
      const dir = join(v2, name);
      await mkdir(dir);
      made.push(dir);
      await writeFile(join(dir, "cpu.max"), `${quota ?? "max"} ${period}`);
      await writeFile(join(dir, "memory.max"), String(memory));
      return { procs: [join(dir, "cgroup.procs")], remove };
    }
    const v1 = ["cpu", "cpuacct", "memory"].map((c) => join("/sys/fs/cgroup", c, name));
    if (!v1.every((d) => existsSync(join(d, "..", "cgroup.procs")))) return undefined;
    for (const dir of v1) {
      await mkdir(dir);
      made.push(dir);
    }
    await writeFile(join(v1[0]!, "cpu.cfs_period_us"), String(period));
    await writeFile(join(v1[0]!, "cpu.cfs_quota_us"), quota ?? "-1");
    await writeFile(join(v1[2]!, "memory.limit_in_bytes"), String(memory));
    return { procs: v1.map((d) => join(d, "cgroup.procs")), remove };
  } catch {
    await remove();
    return undefined;
  }
}

/** Runs the agent's sampler in a process inside the cgroups, while it burns CPU for `ms`. */
function sampleInside(
  made: Made,
  ms: number,
): Promise<{ limit?: number; cpuPercent: number; available: number }> {
  const module = new URL("../src/resources.ts", import.meta.url).href;
  const code = `
    const { ResourceSampler } = await import(${JSON.stringify(module)});
    const s = new ResourceSampler();
    const limit = await s.limitCores();
    await s.sample();
    const end = Date.now() + ${ms};
    while (Date.now() < end) {}
    const u = await s.sample();
    console.log(JSON.stringify({ limit, cpuPercent: u.cpuPercent, available: u.availableMemoryBytes }));`;
  const join = made.procs.map((p) => `echo $$ > '${p}'`).join(" && ");
  const child = spawn(
    "sh",
    ["-c", `${join} && exec "$0" "$@"`, process.execPath, "--input-type=module", "-e", code],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  child.stderr.on("data", (d: Buffer) => (err += d));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`sampler exited ${code}: ${err}`)),
    ),
  );
}

describe("resources: a node under a CPU and memory limit", () => {
  test("reports its quota as saturated and its memory within the limit", async (t) => {
    const limitBytes = 300 * 1024 ** 2;
    const made = await makeCgroups(`ferry-test-${process.pid}`, 0.25, limitBytes);
    if (!made) return t.skip("no CPU and memory cgroup can be made here (needs root and cgroup v1 or v2)");
    try {
      const r = await sampleInside(made, 1500);
      assert.equal(r.limit, 0.25);
      assert.ok(r.cpuPercent >= 80, `a busy loop under a quarter core is at ${r.cpuPercent} %`);
      assert.ok(r.available > 0 && r.available <= limitBytes, `available ${r.available} within the limit`);
    } finally {
      await made.remove();
    }
  });

  test("without a CPU limit, a share of the machine's cores", async (t) => {
    const made = await makeCgroups(`ferry-test-nocpu-${process.pid}`, undefined, 300 * 1024 ** 2);
    if (!made) return t.skip("no CPU and memory cgroup can be made here (needs root and cgroup v1 or v2)");
    try {
      const r = await sampleInside(made, 300);
      assert.equal(r.limit, undefined);
      assert.ok(r.cpuPercent > 0 && r.cpuPercent <= 100, `${r.cpuPercent} %`);
    } finally {
      await made.remove();
    }
  });
});
