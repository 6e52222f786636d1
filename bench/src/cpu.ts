/**
 * CPU time of processes, from /proc: what a benchmark's processes spent during a measured window,
 * so a result can say whether the machine's cores were the limit and who used them.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times, is 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  /** Own user + system time, seconds. */
  own: number;
  /** User + system time of the children it has reaped, seconds. */
  reaped: number;
}

async function stat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // Fields after the command name (which may hold spaces and parentheses): state is field 3.
  const f = text
    .slice(text.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  return {
    ppid: f[1]!,
    own: (f[11]! + f[12]!) / TICKS_PER_SECOND,
    reaped: (f[13]! + f[14]!) / TICKS_PER_SECOND,
  };
}

/**
 * CPU time (user + system) a process has used, with that of its children it has reaped: what
 * PostgreSQL's backends, one per connection, leave in the postmaster's count once they end.
 * Seconds.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const s = await stat(pid);
  if (!s) throw new Error(`no process ${pid}`);
  return s.own + s.reaped;
}

/**
 * CPU time of a process and all its descendants, living or reaped: a PostgreSQL server with the
 * backends that are still connected, which `cpuSeconds` of the postmaster alone misses. Seconds.
 */
export async function treeCpuSeconds(root: number): Promise<number> {
  const pids = (await readdir("/proc")).filter((e) => /^\d+$/.test(e)).map(Number);
  const stats = new Map<number, Stat>();
  await Promise.all(
    pids.map(async (pid) => {
      const s = await stat(pid);
      if (s) stats.set(pid, s);
    }),
  );
  const top = stats.get(root);
  if (!top) throw new Error(`no process ${root}`);
  let total = top.own + top.reaped;
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    const s = stats.get(pid)!;
    // A living child's own time; its reaped children are in its own count, its living ones below.
    total += s.own + s.reaped;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/**
 * The pid of a server started by hack/services, from the state file in its folder: PostgreSQL's
 * postmaster, Azurite's node.
 */
export async function serverPid(dir: string): Promise<number> {
  const state = JSON.parse(await readFile(join(dir, "service.json"), "utf8")) as { pid: number };
  return state.pid;
}

/** This process's own CPU time (user + system), seconds. */
export function ownCpuSeconds(): Promise<number> {
  const { user, system } = process.cpuUsage();
  return Promise.resolve((user + system) / 1e6);
}

/**
 * CPU time the hypervisor gave other guests while this machine's vCPUs wanted to run (the steal
 * column of /proc/stat), summed over its cores; 0 where /proc/stat has none. Seconds. A share of it
 * over a window says how much of a slow measurement was someone else's load.
 */
export async function stolenSeconds(): Promise<number> {
  const text = await readFile("/proc/stat", "utf8").catch(() => "");
  const cpu = /^cpu\s+(.*)$/m.exec(text)?.[1]?.split(/\s+/).map(Number);
  return (cpu?.[7] ?? 0) / TICKS_PER_SECOND;
}
