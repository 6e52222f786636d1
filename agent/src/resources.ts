/**
 * What the node reports about its machine: CPU % from the deltas of os.cpus() times, available
 * memory, and network bytes per second from the deltas of /proc/net/dev (absent elsewhere: 0).
 * The arithmetic is pure (tested); `ResourceSampler` only reads the OS.
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
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

export class ResourceSampler {
  #cpu = cpuTimes(os.cpus());
  #net: NetCounters | undefined;
  #at = Date.now();

  async sample(): Promise<NodeResourceUsage> {
    const now = Date.now();
    const cpu = cpuTimes(os.cpus());
    const net = await readFile("/proc/net/dev", "utf8").then(parseNetDev, () => undefined);
    const ms = now - this.#at;
    const usage: NodeResourceUsage = {
      cpuPercent: cpuPercent(this.#cpu, cpu),
      availableMemoryBytes: os.freemem(),
      networkInBytesPerSecond: net && this.#net ? perSecond(this.#net.rx, net.rx, ms) : 0,
      networkOutBytesPerSecond: net && this.#net ? perSecond(this.#net.tx, net.tx, ms) : 0,
    };
    this.#cpu = cpu;
    this.#net = net;
    this.#at = now;
    return usage;
  }
}
