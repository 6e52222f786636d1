/**
 * A local control plane for exploring by hand:
 *
 *   npm run cluster -- up [--name dev] [--nodes 2] [--process-nodes 1]
 *                                                    start (detached) and print the kubeconfig
 *   npm run cluster -- down [--name dev]             stop it and remove its folder
 *   npm run cluster -- status [--name dev]
 */
import { parseArgs } from "node:util";
import { readState } from "./cluster/cluster.ts";
import { ensureNamedCluster, namedClusterDir, stopNamedCluster } from "./cluster/named.ts";
import { runs } from "./cluster/process.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: "string", default: "dev" },
    nodes: { type: "string", default: "2" },
    "process-nodes": { type: "string", default: "1" },
  },
});

async function main(): Promise<number> {
  switch (positionals[0]) {
    case "up": {
      const { state, reused } = await ensureNamedCluster(
        values.name,
        Number(values.nodes),
        Number(values["process-nodes"]),
        (m) => console.error(`[cluster] ${m}`),
      );
      console.log(
        `cluster ${values.name} is ${reused ? "already running" : "up"}; logs in ${state.dir}/logs`,
      );
      console.log(`  export KUBECONFIG=${state.kubeconfig}`);
      return 0;
    }
    case "down":
      console.log((await stopNamedCluster(values.name)) ? "stopped" : "no such cluster");
      return 0;
    case "status": {
      const state = await readState(namedClusterDir(values.name));
      if (!state) {
        console.log("no such cluster");
        return 1;
      }
      for (const [name, pid] of Object.entries(state.pids)) {
        console.log(`${name.padEnd(24)} ${runs(pid, name) ? "running" : "stopped"} (pid ${pid})`);
      }
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      return 0;
    }
    default:
      console.error("usage: cluster up|down|status [--name NAME] [--nodes N] [--process-nodes N]");
      return 2;
  }
}

process.exitCode = await main();
