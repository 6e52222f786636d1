/**
 * Starting and stopping one container's process. The process is the leader of a process group of
 * its own, in private mount and UTS namespaces, with stdout and stderr appended to the pod's log.
 * A signal goes to the main process only (what a container runtime does: SIGTERM reaches PID 1);
 * once it exits, whatever it left in its group is killed, as a pid namespace would on teardown.
 */
import { spawn } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { constants as os } from "node:os";
import { delimiter, join } from "node:path";
import { type HostKind, type HostView, type MountRequest, mountScript } from "./mount-plan.ts";

export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  mounts: MountRequest[];
  hostname: string;
  /** A folder of the pod for this start (tmpfs mount points, the started marker). */
  scratch: string;
  log: FileHandle;
}

export interface Exit {
  /** As kubelet reports it: the exit code, or 128 + the signal number. */
  exitCode: number;
  signal?: NodeJS.Signals;
  /** False when the runtime's own setup failed (a mount, a missing entry point). */
  started: boolean;
}

export interface RunningProcess {
  pid: number;
  startedAt: Date;
  exited: Promise<Exit>;
  signal(signal: NodeJS.Signals): void;
}

export const hostView: HostView = {
  kind(path: string): HostKind {
    try {
      const s = lstatSync(path);
      return s.isSymbolicLink() ? "symlink" : s.isDirectory() ? "dir" : "file";
    } catch {
      return "missing";
    }
  },
  readlink: (path) => readlinkSync(path),
  list: (dir) => readdirSync(dir),
  owner(dir) {
    const s = statSync(dir);
    return { mode: s.mode, uid: s.uid, gid: s.gid };
  },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while any process of the group exists (zombies included, until their new parent reaps them). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/** An executable of the runtime's own PATH: a pod's PATH must not decide what sets it up. */
export function hostExecutable(name: string): string {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH: the process runtime needs util-linux's ${name}`);
}

let unshare: string | undefined;

/** Starts the process; it throws only when `unshare` itself cannot be spawned. */
export function startProcess(spec: ProcessSpec): RunningProcess {
  const marker = `${spec.scratch}/started`;
  const script = mountScript(
    {
      mounts: spec.mounts,
      scratch: spec.scratch,
      workingDir: spec.workingDir,
      hostname: spec.hostname,
      startedMarker: marker,
    },
    hostView,
  );
  unshare ??= hostExecutable("unshare");
  const child = spawn(
    unshare,
    ["--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", ...spec.argv],
    { env: spec.env, stdio: ["ignore", spec.log.fd, spec.log.fd], detached: true },
  );
  const startedAt = new Date();
  const pid = child.pid;
  // For reap.ts: a runtime killed outright leaves this behind, and its next start cleans up.
  if (pid !== undefined) writeFileSync(`${spec.scratch}/pid`, `${pid} ${processStartTicks(pid) ?? ""}\n`);
  // A spawn failure is reported as an 'error' event and a missing pid; the pid check handles it.
  child.on("error", () => {});
  if (pid === undefined) {
    throw new Error(`${unshare} could not be started`);
  }
  const exited = new Promise<Exit>((resolve) => {
    child.on("exit", async (code, signal) => {
      // Whatever the process left behind in its group goes with it; "exited" means all of it is gone.
      signalGroup(pid, "SIGKILL");
      for (let waited = 0; groupAlive(pid) && waited < 5000; waited += 20) await sleep(20);
      const exitCode = code ?? 128 + (signal ? os.signals[signal] : 0);
      resolve({ exitCode, ...(signal ? { signal } : {}), started: existsSync(marker) });
    });
  });
  return {
    pid,
    startedAt,
    exited,
    signal(signal: NodeJS.Signals) {
      if (signal === "SIGKILL") signalGroup(pid, signal);
      else {
        try {
          process.kill(pid, signal);
        } catch {
          // already exited
        }
      }
    },
  };
}

/** The clock tick at which `pid` started (field 22 of /proc/<pid>/stat): tells a reused pid apart. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
