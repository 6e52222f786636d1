/**
 * What a launcher (agent/bin/ferry-agent, operator/bin/ferry-operator: the programs pods and
 * machines run) gives its program besides the arguments: the variables it defaults (its
 * `export NAME="${NAME:-value}"` lines, such as MALLOC_ARENA_MAX) and the options it passes node
 * (`exec node <flags> ".../main.ts"`). Processes that this repository starts without the launcher
 * (the local kubelet's pods, tests, benchmarks) read them here, from the launcher itself, so they
 * run as shipped and the values live in one place.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const AGENT_LAUNCHER = fileURLToPath(new URL("../../agent/bin/ferry-agent", import.meta.url));
export const OPERATOR_LAUNCHER = fileURLToPath(new URL("../../operator/bin/ferry-operator", import.meta.url));

export interface LauncherSettings {
  /** Variables the launcher sets unless the environment already does. */
  env: Record<string, string>;
  /** Options for node itself, before the script. */
  nodeFlags: string[];
}

/** The settings of the launcher at `path` (its text may be given, as a test does). */
export function launcherSettings(path: string, script = readFileSync(path, "utf8")): LauncherSettings {
  const env: Record<string, string> = {};
  for (const m of script.matchAll(/^export ([A-Z_][A-Z0-9_]*)="\$\{\1:-([^}"]*)\}"$/gm)) env[m[1]!] = m[2]!;
  const line = /^exec node (.*)"\$here\/\.\.\/src\/main\.ts" "\$@"$/m.exec(script);
  if (!line) throw new Error(`${path}: no "exec node ... main.ts" line`);
  return { env, nodeFlags: line[1]!.split(" ").filter(Boolean) };
}

export function agentLaunch(script?: string): LauncherSettings {
  return launcherSettings(AGENT_LAUNCHER, script);
}

export function operatorLaunch(script?: string): LauncherSettings {
  return launcherSettings(OPERATOR_LAUNCHER, script);
}

/**
 * The launcher's defaults as the launcher applies them to `env`: a variable that `env` sets to a
 * non-empty value keeps it (`${NAME:-value}`), the others get the default.
 */
export function launcherEnv(
  settings: LauncherSettings,
  env: Record<string, string | undefined> = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.env)) out[name] = env[name] || value;
  return out;
}
