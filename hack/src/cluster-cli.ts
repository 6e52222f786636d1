/**
 * A local control plane for exploring by hand:
 *
 *   npm run cluster -- up [--name dev] [--nodes 2]   start (detached) and print the kubeconfig
 *   npm run cluster -- down [--name dev]             stop it and remove its folder
 *   npm run cluster -- status [--name dev]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readState, startCluster, stopClusterAt } from "./cluster/cluster.ts";
import { runs } from "./cluster/process.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: "string", default: "dev" }, nodes: { type: "string", default: "2" } },
});
const cache = process.env.FERRY_CACHE ?? join(process.env.HOME ?? "/tmp", ".cache", "ferry");
const dir = join(cache, "clusters", values.name);

async function main(): Promise<number> {
  switch (positionals[0]) {
    case "up": {
      const state = await readState(dir);
      if (state && Object.entries(state.pids).every(([name, pid]) => runs(pid, name))) {
        console.log(`cluster ${values.name} is already running\n  export KUBECONFIG=${state.kubeconfig}`);
        return 0;
      }
      if (state) await stopClusterAt(dir, { removeDir: true });
      const cluster = await startCluster({
        dir,
        nodes: Number(values.nodes),
        detached: true,
        log: (m) => console.error(`[cluster] ${m}`),
      });
      console.log(
        `cluster ${values.name} is up; logs in ${cluster.logDir}\n  export KUBECONFIG=${cluster.kubeconfig}`,
      );
      return 0;
    }
    case "down":
      console.log((await stopClusterAt(dir, { removeDir: true })) ? "stopped" : "no such cluster");
      return 0;
    case "status": {
      const state = await readState(dir);
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
      console.error("usage: cluster up|down|status [--name NAME] [--nodes N]");
      return 2;
  }
}

process.exitCode = await main();
