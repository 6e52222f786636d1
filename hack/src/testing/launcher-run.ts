/**
 * Running a launcher (agent/bin/ferry-agent, operator/bin/ferry-operator) for its tests, against a
 * stand-in `node` that prints what it was given: the launcher's own shell runs for real, and the
 * test reads the arguments and environment it would have started node with.
 */
import { execFile } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/** Writes `dir/node`: answers `--version` with `version`, otherwise prints its arguments and environment. */
export async function standInNode(dir: string, version = "v24.0.0"): Promise<void> {
  await writeFile(
    join(dir, "node"),
    `#!/bin/sh\n[ "$1" = --version ] && { echo ${version}; exit 0; }\necho "ARGV=$*"\nenv\n`,
  );
  await chmod(join(dir, "node"), 0o755);
}

/**
 * Runs `launcher` with the stand-in `node` of `bin` first on the PATH and only `extra` in the
 * environment: the arguments and the environment node got.
 */
export async function runLauncher(
  launcher: string,
  bin: string,
  args: string[] = [],
  extra: Record<string, string> = {},
): Promise<{ argv: string; env: Record<string, string> }> {
  const { stdout } = await promisify(execFile)(launcher, args, {
    env: { PATH: `${bin}:/usr/bin:/bin`, ...extra },
  });
  const lines = stdout.split("\n");
  const argv = lines.find((l) => l.startsWith("ARGV="))!.slice(5);
  const vars = lines.filter((l) => l.includes("=") && !l.startsWith("ARGV="));
  return {
    argv,
    env: Object.fromEntries(vars.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])),
  };
}
