/**
 * The processes a control-plane benchmark runs against its cluster: real agents and a real
 * operator (`node agent/src/main.ts`, `node operator/src/main.ts`, with the node options and
 * defaults of their launchers), each logging to its own file so the benchmark can wait on what
 * they say, and read their memory from /proc.
 */
import type { ChildProcess } from "node:child_process";
import { access, mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive, startProcess, stopPids } from "@ferry/hack";
import { agentLaunch, type LauncherSettings, launcherEnv, operatorLaunch } from "@ferry/hack/testing";

const AGENT_MAIN = fileURLToPath(new URL("../../agent/src/main.ts", import.meta.url));
const OPERATOR_MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
}

function start(
  name: string,
  main: string,
  args: string[],
  logDir: string,
  cgroup: MemoryCgroup | undefined,
  launch: LauncherSettings,
): Proc {
  const node = [...launch.nodeFlags, main, ...args];
  const [command, argv] = cgroup
    ? // The shell joins the cgroup, then becomes node (same pid), which sees the limit from its start.
      [
        "/bin/sh",
        ["-c", `echo $$ > '${cgroup.dir}/cgroup.procs' && exec "$0" "$@"`, process.execPath, ...node],
      ]
    : [process.execPath, node];
  const started = startProcess(name, command, argv, logDir, { ...process.env, ...launcherEnv(launch) });
  const pid = started.child.pid;
  if (pid === undefined) throw new Error(`${name} did not start (log: ${started.logFile})`);
  return { name, pid, child: started.child, logFile: started.logFile };
}

/**
 * An external agent with the production timings (lease 15 s, renewal 5 s, status every 12 s): the
 * heartbeat writes that the benchmark counts are then the ones a real gateway makes. The ops
 * endpoint is off, as several agents share this host.
 */
export function startAgent(
  kubeconfig: string,
  namespace: string,
  gateway: string,
  node: string,
  logDir: string,
  name = `agent-${node}`,
): Proc {
  const args = ["--kubeconfig", kubeconfig, "--namespace", namespace, "--gateway", gateway];
  // As the launcher (agent/bin/ferry-agent) runs a shipped agent: its node options and defaults.
  return start(
    name,
    AGENT_MAIN,
    [...args, "--node", node, "--ops-port=-1"],
    logDir,
    undefined,
    agentLaunch(),
  );
}

export function startOperator(
  kubeconfig: string,
  namespace: string,
  logDir: string,
  name = "operator",
  cgroup?: MemoryCgroup,
): Proc {
  const args = ["--kubeconfig", kubeconfig, "--watch-namespace", namespace, "--lease-namespace", namespace];
  // As the launcher (operator/bin/ferry-operator) runs a shipped operator: its node options and defaults.
  return start(name, OPERATOR_MAIN, [...args, "--metrics-port", "0"], logDir, cgroup, operatorLaunch());
}

export interface MemoryCgroup {
  dir: string;
  limitMiB: number;
  /** Removes the cgroup; its processes must have exited. */
  remove(): Promise<void>;
}

/**
 * A memory cgroup under this process's own, limited as a container's memory limit limits a pod:
 * Node sizes its heap from the limit it finds when it starts (libuv's constrained memory), so a
 * process's RSS under a limit is not its RSS on a host with gigabytes free. Undefined where no
 * memory cgroup can be made (not root, no memory controller, cgroup v2 without delegation).
 */
export async function memoryCgroup(name: string, limitMiB: number): Promise<MemoryCgroup | undefined> {
  const own = await readFile("/proc/self/cgroup", "utf8").catch(() => "");
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(own)?.[1];
  const v2 = /^0::(.*)$/m.exec(own)?.[1];
  const candidates = [
    ...(v1 !== undefined ? [{ dir: `/sys/fs/cgroup/memory${v1}`, limitFile: "memory.limit_in_bytes" }] : []),
    ...(v2 !== undefined ? [{ dir: `/sys/fs/cgroup${v2}`, limitFile: "memory.max" }] : []),
  ];
  for (const { dir: parent, limitFile } of candidates) {
    const dir = join(parent.replace(/\/$/, ""), name);
    try {
      await mkdir(dir, { recursive: true });
      // A folder without cgroup.procs is a plain folder (say, a tmpfs), not a cgroup.
      await access(join(dir, "cgroup.procs"));
      await writeFile(join(dir, limitFile), String(limitMiB * 1024 * 1024));
      return { dir, limitMiB, remove: () => rmdir(dir).catch(() => {}) };
    } catch {
      await rmdir(dir).catch(() => {});
    }
  }
  return undefined;
}

export async function stopAll(procs: Proc[]): Promise<void> {
  await stopPids(procs.map((p) => p.pid).filter(isAlive), 10_000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the process logs a (pino JSON) line whose `msg` is `message`. */
export async function waitForLog(proc: Proc, message: string, timeoutMs = 120_000): Promise<void> {
  const needle = `"msg":${JSON.stringify(message)}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(proc.pid)) throw new Error(`${proc.name} exited (log: ${proc.logFile})`);
    const text = await readFile(proc.logFile, "utf8").catch(() => "");
    if (text.includes(needle)) return;
    await sleep(200);
  }
  throw new Error(
    `${proc.name} did not log "${message}" within ${timeoutMs / 1000} s (log: ${proc.logFile})`,
  );
}

export interface Memory {
  /** Resident set now, MiB. */
  rss: number;
  /** The highest resident set the process ever had (VmHWM), MiB. */
  peak: number;
}

export async function memoryOf(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/**
 * Samples a process's RSS every `everyMs` until stopped; the samples show the shape (the cold
 * start's list, then the settled cache) that VmHWM alone does not.
 */
export function sampleMemory(pid: number, everyMs = 250): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running && isAlive(pid)) {
      const m = await memoryOf(pid).catch(() => undefined);
      if (m) samples.push(m.rss);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}
