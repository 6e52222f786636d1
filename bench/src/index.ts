export { type Cell, machine, percentile, RESULTS_FILE, recordResult, table } from "./results.ts";
