/**
 * What the node reports about itself: CPU in use as a percentage of what it may use, the memory
 * still available to it, and network bytes per second from the deltas of /proc/net/dev (absent
 * elsewhere: 0).
 *
 * "What it may use" is its CPU limit when it runs in a cgroup that has one (a pod with
 * resources.limits.cpu, a systemd unit with CPUQuota): the cgroup's usage over its quota, since a
 * throttled pod on an idle 64-core machine is saturated, not at 3%. Without a limit it is the
 * machine's cores (deltas of os.cpus() times), which the agent shares with whatever else runs
 * there. Memory: process.availableMemory(), which also heeds a memory cgroup's limit.
 *
 * Both cgroup versions are read: v2 (cpu.max, cpu.stat) and v1 (cpu.cfs_quota_us and
 * cpu.cfs_period_us, cpuacct.usage). The arithmetic and parsing are pure (tested);
 * `ResourceSampler` and `cgroupCpu` only read the files.
 */
import { access, readFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import type { NodeResourceUsage } from "@ferry/crds";

export interface CpuTimes {
  idle: number;
  total: number;
}
export interface NetCounters {
  rx: number;
  tx: number;
}

export function cpuTimes(cpus: readonly os.CpuInfo[]): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const c of cpus) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
  }
  return { idle, total };
}

export function cpuPercent(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return Math.round(Math.min(100, Math.max(0, (1 - (after.idle - before.idle) / total) * 100)));
}

/** Sums the receive and transmit byte counters of /proc/net/dev, loopback excluded. */
export function parseNetDev(text: string): NetCounters {
  let rx = 0;
  let tx = 0;
  for (const line of text.split("\n").slice(2)) {
    const [iface, rest] = line.split(":");
    if (!rest || iface?.trim() === "lo") continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

export function perSecond(before: number, after: number, ms: number): number {
  return ms > 0 && after >= before ? Math.round(((after - before) * 1000) / ms) : 0;
}

/** Cores a v2 cpu.max allows ("max 100000": no limit). */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  return quotaCores(quota, period);
}

/** Cores a v1 quota and period allow (a quota of -1: no limit). */
export function quotaCores(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined;
}

/** usage_usec of a v2 cpu.stat. */
export function parseCpuStatUsage(text: string): number | undefined {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Busy percentage of a limit of `cores` over `ms`, from two usage readings in microseconds. */
export function quotaPercent(beforeMicros: number, afterMicros: number, cores: number, ms: number): number {
  if (ms <= 0 || cores <= 0 || afterMicros < beforeMicros) return 0;
  return Math.round(Math.min(100, ((afterMicros - beforeMicros) / 1000 / (ms * cores)) * 100));
}

/** The cgroup paths in /proc/self/cgroup: "" for v2, else the v1 controllers' ("cpu", "cpuacct"). */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "") paths.set("", m[2]!);
    else for (const c of m[1]!.split(",")) paths.set(c, m[2]!);
  }
  return paths;
}

/** This process's cgroup CPU limit, in cores, and a reader of the cgroup's CPU time (µs). */
export interface CgroupCpu {
  cores: number;
  usageMicros(): Promise<number | undefined>;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const read = (path: string) => readFile(path, "utf8").catch(() => undefined);

/**
 * The folder of a cgroup `path` under a hierarchy mounted at `mount`: the path itself, else the
 * mount's root, which is what a container sees of its own cgroup when /proc/self/cgroup still
 * names the host's path (v1, or v2 without a cgroup namespace).
 */
async function cgroupDir(mount: string, path: string, file: string): Promise<string | undefined> {
  for (const dir of [join(mount, path), mount]) if (await exists(join(dir, file))) return dir;
  return undefined;
}

/** The smallest limit from `dir` up to `mount` (a parent's limit binds its children too). */
async function tightest(
  mount: string,
  dir: string,
  limitOf: (dir: string) => Promise<number | undefined>,
): Promise<number | undefined> {
  let cores: number | undefined;
  for (let d = dir; ; d = join(d, "..")) {
    const c = await limitOf(d);
    if (c !== undefined && (cores === undefined || c < cores)) cores = c;
    if (d === mount || !d.startsWith(mount)) return cores;
  }
}

/**
 * The CPU limit this process runs under, or undefined when it has none (or no cgroup file says so).
 * `root` is where the cgroup file systems are mounted; `self` is /proc/self/cgroup.
 */
export async function cgroupCpu(
  root = "/sys/fs/cgroup",
  self = "/proc/self/cgroup",
): Promise<CgroupCpu | undefined> {
  const paths = parseProcCgroup((await read(self)) ?? "");
  const v2 = paths.get("");
  if (v2 !== undefined) {
    const dir = await cgroupDir(root, v2, "cpu.max");
    if (dir) {
      const cores = await tightest(root, dir, async (d) => {
        const text = await read(join(d, "cpu.max"));
        return text === undefined ? undefined : parseCpuMax(text);
      });
      if (cores !== undefined)
        return {
          cores,
          usageMicros: async () => parseCpuStatUsage((await read(join(dir, "cpu.stat"))) ?? ""),
        };
    }
  }
  const cpuPath = paths.get("cpu");
  const acctPath = paths.get("cpuacct");
  if (cpuPath === undefined || acctPath === undefined) return undefined;
  for (const [cpuMount, acctMount] of [
    [join(root, "cpu"), join(root, "cpuacct")],
    [join(root, "cpu,cpuacct"), join(root, "cpu,cpuacct")],
  ] as const) {
    const dir = await cgroupDir(cpuMount, cpuPath, "cpu.cfs_quota_us");
    const acct = await cgroupDir(acctMount, acctPath, "cpuacct.usage");
    if (!dir || !acct) continue;
    const cores = await tightest(cpuMount, dir, async (d) =>
      quotaCores(await read(join(d, "cpu.cfs_quota_us")), await read(join(d, "cpu.cfs_period_us"))),
    );
    if (cores === undefined) return undefined;
    return {
      cores,
      usageMicros: async () => {
        const ns = Number(await read(join(acct, "cpuacct.usage")));
        return Number.isFinite(ns) ? ns / 1000 : undefined;
      },
    };
  }
  return undefined;
}

export class ResourceSampler {
  #cpu = cpuTimes(os.cpus());
  #net: NetCounters | undefined;
  #at = Date.now();
  #used: number | undefined;
  readonly #cgroup = cgroupCpu().then(async (c) => {
    this.#used = await c?.usageMicros();
    return c;
  });

  /** The CPU limit sampled against, in cores; undefined: the machine's. */
  async limitCores(): Promise<number | undefined> {
    return (await this.#cgroup)?.cores;
  }

  async sample(): Promise<NodeResourceUsage> {
    const cgroup = await this.#cgroup;
    const now = Date.now();
    const cpu = cpuTimes(os.cpus());
    const used = await cgroup?.usageMicros();
    const net = await readFile("/proc/net/dev", "utf8").then(parseNetDev, () => undefined);
    const ms = now - this.#at;
    const usage: NodeResourceUsage = {
      cpuPercent:
        cgroup && used !== undefined && this.#used !== undefined
          ? quotaPercent(this.#used, used, cgroup.cores, ms)
          : cpuPercent(this.#cpu, cpu),
      availableMemoryBytes: process.availableMemory(),
      networkInBytesPerSecond: net && this.#net ? perSecond(this.#net.rx, net.rx, ms) : 0,
      networkOutBytesPerSecond: net && this.#net ? perSecond(this.#net.tx, net.tx, ms) : 0,
    };
    this.#cpu = cpu;
    this.#used = used;
    this.#net = net;
    this.#at = now;
    return usage;
  }
}
