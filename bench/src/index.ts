export { cpuSeconds, ownCpuSeconds, serverPid, stolenSeconds, treeCpuSeconds } from "./cpu.ts";
export { type Cell, machine, percentile, RESULTS_FILE, recordResult, table } from "./results.ts";
