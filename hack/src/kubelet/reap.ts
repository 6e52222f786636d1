/**
 * A runtime killed outright (SIGKILL, a crashed test run) cannot stop its pods' processes: like
 * a dead kubelet's containers they keep running. Each data folder records its owner and every
 * process it started (pid and start time, so a reused pid is never signalled); the next runtime to
 * start kills the processes of folders whose owner is dead and removes those folders.
 */
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { processStartTicks } from "./supervisor.ts";

export const DATA_DIR_PREFIX = "ferry-process-node-";
const OWNER = "owner.json";

interface Owner {
  pid: number;
  ticks: string | undefined;
  node: string;
}

export async function claimDataDir(dir: string, node: string): Promise<void> {
  const owner: Owner = { pid: process.pid, ticks: processStartTicks(process.pid), node };
  await writeFile(join(dir, OWNER), `${JSON.stringify(owner)}\n`);
}

function alive(pid: number, ticks: string | undefined): boolean {
  return ticks !== undefined && processStartTicks(pid) === ticks;
}

async function recordedProcesses(dir: string): Promise<{ pid: number; ticks: string }[]> {
  const found: { pid: number; ticks: string }[] = [];
  const pods = join(dir, "pods");
  for (const uid of existsSync(pods) ? await readdir(pods) : []) {
    const run = join(pods, uid, "run");
    for (const container of existsSync(run) ? await readdir(run) : []) {
      const text = await readFile(join(run, container, "pid"), "utf8").catch(() => "");
      const [pid, ticks] = text.trim().split(" ");
      if (pid && ticks) found.push({ pid: Number(pid), ticks });
    }
  }
  return found;
}

/** Kills what dead runtimes left in `root`'s data folders; resolves to the processes killed. */
export async function reapOrphanedPods(root: string, log: (message: string) => void): Promise<number> {
  let killed = 0;
  const entries = existsSync(root) ? await readdir(root) : [];
  for (const entry of entries.filter((e) => e.startsWith(DATA_DIR_PREFIX))) {
    const dir = join(root, entry);
    const owner = JSON.parse(await readFile(join(dir, OWNER), "utf8").catch(() => "null")) as Owner | null;
    if (!owner || alive(owner.pid, owner.ticks)) continue;
    for (const { pid, ticks } of await recordedProcesses(dir)) {
      if (!alive(pid, ticks)) continue;
      try {
        process.kill(-pid, "SIGKILL");
        killed++;
      } catch {
        // gone meanwhile
      }
    }
    log(`removed ${dir}, left by process node ${owner.node} (pid ${owner.pid}, no longer running)`);
    await rm(dir, { recursive: true, force: true });
  }
  return killed;
}
