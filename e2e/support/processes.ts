/**
 * Processes the scenarios start themselves (the operator, an external agent, the `ferry` CLI),
 * with every output line kept: scenarios wait on lines, and secret-hygiene greps them all.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type Logged, spawnLogged as spawnShared } from "@ferry/hack/testing";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const OPERATOR_MAIN = `${ROOT}operator/src/main.ts`;
export const AGENT_MAIN = `${ROOT}agent/src/main.ts`;
export const CLI_MAIN = `${ROOT}agent/src/cli/main.ts`;

/** Every line any process started here printed, in this test process (for secret hygiene). */
export const allLines: string[] = [];

export type { Logged };

export function spawnLogged(name: string, argv: string[], env: Record<string, string> = {}): Logged {
  return spawnShared(name, argv, env, (line) => allLines.push(line));
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
