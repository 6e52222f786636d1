/**
 * The reliability runner: the kill scenarios (worker-crash, dispatcher-failover, operator-restart)
 * repeated with random kill points on a control plane of its own, then one table — scenario,
 * trials, jobs, rows lost, rows duplicated, failover p50 / p99 — printed and written to
 * e2e/RESULTS.md with the command that produced it.
 *
 *   npm run reliability -- [--trials 20] [--scenarios worker-crash,dispatcher-failover,operator-restart]
 *                          [--seed N] [--out e2e/RESULTS.md] [--keep-cluster]
 *
 * A trial's seed (base seed + trial index) fixes its kill point; FERRY_E2E_SEED=<seed> re-runs the
 * same kill point in the scenario's test file.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@ferry/common";
import { ensureNamedCluster, stopNamedCluster } from "@ferry/hack";
import { startAzurite, startPostgres } from "@ferry/hack/services";
import { installCrds } from "@ferry/hack/testing";
import { type Scope, type Stack, type StackOptions, startStack } from "../support/stack.ts";
import {
  dispatcherFailoverTrial,
  operatorRestartTrial,
  random,
  type TrialResult,
  workerCrashTrial,
} from "../support/trials.ts";

type Trial = (stack: Stack, name: string, rand: () => number) => Promise<TrialResult>;

const SCENARIOS: Record<string, { trial: Trial; stack: StackOptions; failover: string }> = {
  "worker-crash": {
    trial: workerCrashTrial,
    stack: { rows: 3_000, spec: { nodes: { min: 2, max: 2 } } },
    failover: "kill → job running on another node",
  },
  "dispatcher-failover": {
    trial: dispatcherFailoverTrial,
    stack: { rows: 3_000, spec: { nodes: { min: 3, max: 3 } } },
    failover: "kill → another node holds the dispatcher lease",
  },
  "operator-restart": {
    trial: operatorRestartTrial,
    stack: { rows: 3_000 },
    failover: "kill → gateway converged (pods = nodes, status = spec)",
  },
};

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "20" },
    scenarios: { type: "string", default: Object.keys(SCENARIOS).join(",") },
    seed: { type: "string" },
    out: { type: "string", default: fileURLToPath(new URL("../RESULTS.md", import.meta.url)) },
    "keep-cluster": { type: "boolean", default: false },
  },
});
const trials = Number(values.trials);
const names = values.scenarios.split(",").filter(Boolean);
for (const n of names)
  if (!SCENARIOS[n]) throw new Error(`unknown scenario ${n}: ${Object.keys(SCENARIOS).join(", ")}`);
const baseSeed = Number(values.seed ?? Date.now() % 1_000_000);
const say = (m: string) => console.error(`[reliability] ${m}`);

function percentile(sorted: number[], p: number): number {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
    : Number.NaN;
}
const seconds = (ms: number) => (Number.isNaN(ms) ? "-" : `${(ms / 1000).toFixed(1)} s`);

interface Row {
  scenario: string;
  results: TrialResult[];
  errors: string[];
}

async function main(): Promise<number> {
  const started = Date.now();
  const cluster = "reliability";
  say("starting a control plane of its own (the first run on a machine builds it: minutes)");
  const { state } = await ensureNamedCluster(cluster, 1, 1, say);
  const kube = connect(state.kubeconfig);
  await installCrds(kube);
  const [pg, azurite] = await Promise.all([startPostgres(), startAzurite()]);
  const rows: Row[] = [];
  try {
    for (const name of names) {
      const scenario = SCENARIOS[name]!;
      const namespace = `rel-${name}-${randomBytes(3).toString("hex")}`;
      await kube.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
      const deferred: (() => unknown)[] = [];
      const scope: Scope = {
        kube,
        kubeconfig: state.kubeconfig,
        namespace,
        defer: (fn) => void deferred.push(fn),
      };
      const row: Row = { scenario: name, results: [], errors: [] };
      rows.push(row);
      try {
        const stack = await startStack(scope, { pg, azurite }, scenario.stack);
        for (let i = 0; i < trials; i++) {
          const seed = baseSeed + i;
          try {
            const r = await scenario.trial(stack, `t${i}`, random(seed));
            row.results.push(r);
            say(
              `${name} #${i + 1}/${trials} (seed ${seed}): ${r.killPoint}; failover ${seconds(r.failoverMs)}; ` +
                `lost ${r.rowsLost}, duplicated ${r.rowsDuplicated}${r.violations.length ? `; ${r.violations.join("; ")}` : ""}`,
            );
          } catch (err) {
            row.errors.push(`seed ${seed}: ${(err as Error).message}`);
            say(`${name} #${i + 1}/${trials} (seed ${seed}) did not finish: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        row.errors.push(`set-up: ${(err as Error).message}`);
        say(`${name}: set-up failed: ${(err as Error).message}`);
      } finally {
        for (const fn of deferred.reverse()) await Promise.resolve(fn()).catch(() => {});
        await kube.delete({ apiVersion: "v1", kind: "Namespace", name: namespace }).catch(() => {});
      }
    }
  } finally {
    await Promise.all([pg.stop(), azurite.stop()]);
    if (!values["keep-cluster"]) await stopNamedCluster(cluster);
  }

  const header =
    "| scenario | trials | jobs | jobs not Succeeded | rows lost | rows duplicated | failover p50 | failover p99 | trials not finished | violations |";
  const lines = [header, "|---|---|---|---|---|---|---|---|---|---|"];
  for (const row of rows) {
    const sum = (f: (r: TrialResult) => number) => row.results.reduce((s, r) => s + f(r), 0);
    const failovers = row.results.map((r) => r.failoverMs).sort((a, b) => a - b);
    lines.push(
      `| ${row.scenario} | ${row.results.length + row.errors.length} | ${sum((r) => r.jobs)} | ${sum((r) => r.failedJobs)} | ` +
        `${sum((r) => r.rowsLost)} | ${sum((r) => r.rowsDuplicated)} | ${seconds(percentile(failovers, 50))} | ` +
        `${seconds(percentile(failovers, 99))} | ${row.errors.length} | ${sum((r) => r.violations.length)} |`,
    );
  }
  const table = lines.join("\n");
  console.log(table);
  const command = `npm run reliability -- --trials ${trials}${values.scenarios !== Object.keys(SCENARIOS).join(",") ? ` --scenarios ${values.scenarios}` : ""} --seed ${baseSeed}`;
  const problems = rows.flatMap((r) => [
    ...r.errors.map((e) => `- ${r.scenario}: ${e}`),
    ...r.results.flatMap((t) => t.violations.map((v) => `- ${r.scenario}: ${v}`)),
  ]);
  const report = `# Reliability

The kill scenarios repeated with random kill points, each trial checked row by row against the
source (\`e2e/support/output.ts\`). Produced by:

\`\`\`sh
${command}
\`\`\`

on ${availableParallelism()} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; ${((Date.now() - started) / 60_000).toFixed(0)} minutes.

${table}

What each failover time measures:
${names.map((n) => `- ${n}: ${SCENARIOS[n]!.failover}`).join("\n")}

What is killed, and where (\`e2e/support/trials.ts\`):
- worker-crash: SIGKILL of the agent running a slow 6-partition copy, after a random number (0–4) of
  committed partitions plus 0–1 s; the crashed pod is replaced before the next trial.
- dispatcher-failover: SIGKILL of the dispatcher's agent while four jobs are being created, after a
  random one of them plus 0–0.5 s.
- operator-restart: SIGKILL of the operator 0–1.5 s into a scale change (2 ↔ 3 nodes) or 0–6 s into
  a rolling update to a new agent version, chosen at random; a new operator process is started at once.
${problems.length ? `\nProblems seen:\n${problems.join("\n")}\n` : "\nNo trial failed to finish, and none broke a promise.\n"}`;
  await writeFile(values.out, report);
  say(`written to ${values.out}`);
  const bad = rows.some(
    (r) =>
      r.errors.length > 0 ||
      r.results.some((t) => t.rowsLost || t.rowsDuplicated || t.failedJobs || t.violations.length),
  );
  return bad ? 1 : 0;
}

process.exitCode = await main();
