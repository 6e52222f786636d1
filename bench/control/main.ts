/**
 * Control-plane benchmarks (issue 7): dispatch latency and API writes per job with real agents,
 * then operator and agent memory with many objects present. One command, its own local control
 * plane; prints the tables and appends them to bench/RESULTS.md.
 *
 *   npm run bench -- control [--jobs 1000] [--agents 4] [--per-node <n>[,<n>...]] [--no-operator]
 *                            [--memory-jobs 10000] [--memory-nodes 64] [--only dispatch|memory]
 *                            [--keep-cluster] [--keep-logs] [--dump <file>] [--no-record]
 *
 * --per-node: the dispatch benchmark runs once per value. The default is the agent's own default
 * (one slot per core, at least 2: what a node gets when nobody sets its concurrency), then 8, four
 * times the cores of the 2-core machines this runs on, which buys throughput with latency.
 * --dump writes what the stopwatch saw per job (JSON) for a closer look at the latencies, one file
 * per --per-node value (its name suffixed with the value).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
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
    // agent/src/agent.ts: defaultLimit.
    "per-node": { type: "string", default: `${Math.max(2, availableParallelism())},8` },
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
const perNode = [...new Set(values["per-node"].split(","))].map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error("--per-node is a list of positive integers");
  return n;
});
if (values.only && values.only !== "dispatch" && values.only !== "memory")
  throw new Error("--only is dispatch or memory");
const command = ["npm run bench -- control", ...process.argv.slice(2)].join(" ");
const started = Date.now();
const log = (message: string) =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

const logDir = await mkdtemp(join(tmpdir(), "ferry-bench-control-"));
let failed = false;
const dispatch: DispatchResult[] = [];
let memory: MemoryResult | undefined;
try {
  const cluster = await startBenchCluster(log);
  log(`control plane ${cluster.reused ? "reused" : "started"}; process logs in ${logDir}`);
  const createConcurrency = int("create-concurrency");
  for (const slots of values.only === "memory" ? [] : perNode) {
    log(`dispatch benchmark, ${slots} slots a node`);
    const result = await runDispatch(cluster, {
      jobs: int("jobs"),
      agents: int("agents"),
      perNode: slots,
      operator: !values["no-operator"],
      createConcurrency,
      logDir,
      log,
    });
    dispatch.push(result);
    if (values.dump) await writeFile(`${values.dump}.${slots}`, JSON.stringify(result.seen));
  }
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

const sections = [...dispatch.map(dispatchReport), memory && memoryReport(memory)].filter((s): s is string =>
  Boolean(s),
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
