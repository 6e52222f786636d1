/**
 * A Node program started by a test with every output line kept, so the test can wait on lines
 * and grep them (secret hygiene); FERRY_TEST_PROCESS_LOGS=1 echoes them to stderr as they come.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface Logged {
  name: string;
  proc: ChildProcess;
  pid: number;
  lines: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnLogged(
  name: string,
  argv: string[],
  env: Record<string, string> = {},
  onLine: (line: string) => void = () => {},
): Logged {
  const proc = spawn(process.execPath, argv, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const line of parts) {
        if (!line) continue;
        lines.push(line);
        onLine(line);
        if (process.env.FERRY_TEST_PROCESS_LOGS) process.stderr.write(`[${name}] ${line}\n`);
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return {
    name,
    proc,
    pid: proc.pid ?? -1,
    lines,
    exited,
    kill: (signal = "SIGTERM") => void proc.kill(signal),
  };
}

/** Agent flags for processes started by tests (production: 15 s leases, 12 s status, 30 s drain). */
export const FAST_AGENT_FLAGS = [
  "--ops-port=-1",
  "--lease-seconds",
  "3",
  "--renew-seconds",
  "0.5",
  "--dispatcher-lease-seconds",
  "3",
  "--status-seconds",
  "2",
  "--progress-seconds",
  "1",
  "--drain-seconds",
  "2",
];
