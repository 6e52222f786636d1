/**
 * Processes the scenarios start themselves (the operator, an external agent, the `ferry` CLI),
 * with every output line kept: scenarios wait on lines, and secret-hygiene greps them all.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const OPERATOR_MAIN = `${ROOT}operator/src/main.ts`;
export const AGENT_MAIN = `${ROOT}agent/src/main.ts`;
export const CLI_MAIN = `${ROOT}agent/src/cli/main.ts`;

export interface Logged {
  name: string;
  proc: ChildProcess;
  pid: number;
  lines: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Every line any process started here printed, in this test process (for secret hygiene). */
export const allLines: string[] = [];

export function spawnLogged(name: string, argv: string[], env: Record<string, string> = {}): Logged {
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
        allLines.push(line);
        if (process.env.FERRY_E2E_LOGS) process.stderr.write(`[${name}] ${line}\n`);
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

/** `ferry <args>` (the CLI users run), its stdout; rejects with its stderr on a non-zero exit. */
export function ferryCli(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [CLI_MAIN, ...args], (err, stdout, stderr) => {
      allLines.push(...`${stdout}\n${stderr}`.split("\n").filter(Boolean));
      if (err) reject(new Error(`ferry ${args[0]} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
