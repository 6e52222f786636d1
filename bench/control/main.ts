/**
 * Control-plane benchmarks (issue 7): dispatch latency and API writes per job with real agents,
 * then operator and agent memory with many objects present. One command, its own local control
 * plane; prints the tables and appends them to bench/RESULTS.md.
 *
 *   npm run bench -- control [--jobs 1000] [--agents 4] [--per-node 8] [--no-operator]
 *                            [--memory-jobs 10000] [--memory-nodes 64] [--only dispatch|memory]
 *                            [--keep-cluster] [--keep-logs] [--dump <file>] [--no-record]
 *
 * --dump writes what the stopwatch saw per job (JSON) for a closer look at the latencies.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { recordResult } from "../src/index.ts";
import { startBenchCluster, stopBenchCluster } from "./cluster.ts";
import { type DispatchResult, runDispatch } from "./dispatch.ts";
import { chartMemoryLimitMiB, type MemoryResult, runMemory } from "./memory.ts";
import { dispatchReport, memoryReport } from "./report.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "1000" },
    agents: { type: "string", default: "4" },
    "per-node": { type: "string", default: "8" },
    "no-operator": { type: "boolean", default: false },
    "memory-jobs": { type: "string", default: "10000" },
    "memory-nodes": { type: "string", default: "64" },
    "create-concurrency": { type: "string", default: "32" },
    "settle-seconds": { type: "string", default: "20" },
    only: { type: "string" },
    "keep-cluster": { type: "boolean", default: false },
    "no-record": { type: "boolean", default: false },
    "keep-logs": { type: "boolean", default: false },
    dump: { type: "string" },
  },
  strict: true,
});

const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
if (values.only && values.only !== "dispatch" && values.only !== "memory")
  throw new Error("--only is dispatch or memory");
const command = ["npm run bench -- control", ...process.argv.slice(2)].join(" ");
const started = Date.now();
const log = (message: string) =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

const logDir = await mkdtemp(join(tmpdir(), "ferry-bench-control-"));
let failed = false;
let dispatch: DispatchResult | undefined;
let memory: MemoryResult | undefined;
try {
  const cluster = await startBenchCluster(log);
  log(`control plane ${cluster.reused ? "reused" : "started"}; process logs in ${logDir}`);
  const createConcurrency = int("create-concurrency");
  if (values.only !== "memory") {
    log("dispatch benchmark");
    dispatch = await runDispatch(cluster, {
      jobs: int("jobs"),
      agents: int("agents"),
      perNode: int("per-node"),
      operator: !values["no-operator"],
      createConcurrency,
      logDir,
      log,
    });
  }
  if (dispatch && values.dump) await writeFile(values.dump, JSON.stringify(dispatch.seen));
  if (values.only !== "dispatch") {
    log("memory benchmark");
    const limitMiB = await chartMemoryLimitMiB();
    memory = await runMemory(cluster, {
      ...(limitMiB ? { limitMiB } : {}),
      jobs: int("memory-jobs"),
      nodes: int("memory-nodes"),
      createConcurrency,
      settleMs: int("settle-seconds") * 1000,
      logDir,
      log,
    });
  }
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  if (!values["keep-cluster"]) await stopBenchCluster();
}

const sections = [dispatch && dispatchReport(dispatch), memory && memoryReport(memory)].filter(
  (s): s is string => Boolean(s),
);
const body = `${sections.join("\n\n")}\n\nWall time of the whole run: ${((Date.now() - started) / 1000).toFixed(0)} s.`;
console.log(`\n${body}`);
if (failed) {
  console.error(`the benchmark failed; agent and operator logs kept in ${logDir}`);
  process.exitCode = 1;
} else {
  if (values["keep-logs"]) console.error(`agent and operator logs in ${logDir}`);
  else await rm(logDir, { recursive: true, force: true });
  if (!values["no-record"] && sections.length > 0) {
    await recordResult("control", command, body);
    console.error("appended to bench/RESULTS.md");
  }
}
