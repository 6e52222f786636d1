/**
 * What agent/bin/ferry-agent, the launcher pods and machines run, gives the agent besides its
 * arguments: the variables it defaults (its `export NAME="${NAME:-value}"` lines, such as
 * MALLOC_ARENA_MAX) and the options it passes node (`exec node <flags> ".../main.ts"`). Agents
 * that this repository starts without the launcher (the local kubelet's pods, tests, benchmarks)
 * read them here, from the launcher itself, so they run as shipped and the values live in one place.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const AGENT_LAUNCHER = fileURLToPath(new URL("../../agent/bin/ferry-agent", import.meta.url));

export interface AgentLaunch {
  /** Variables the launcher sets unless the environment already does. */
  env: Record<string, string>;
  /** Options for node itself, before the script. */
  nodeFlags: string[];
}

export function agentLaunch(script = readFileSync(AGENT_LAUNCHER, "utf8")): AgentLaunch {
  const env: Record<string, string> = {};
  for (const m of script.matchAll(/^export ([A-Z_][A-Z0-9_]*)="\$\{\1:-([^}"]*)\}"$/gm)) env[m[1]!] = m[2]!;
  const line = /^exec node (.*)"\$here\/\.\.\/src\/main\.ts" "\$@"$/m.exec(script);
  if (!line) throw new Error(`${AGENT_LAUNCHER}: no "exec node ... main.ts" line`);
  return { env, nodeFlags: line[1]!.split(" ").filter(Boolean) };
}
