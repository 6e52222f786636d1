/**
 * The operator process: one active replica (Lease leader election), informers and controllers,
 * /metrics, /healthz and /readyz, and a graceful stop on SIGTERM that hands the lease over at
 * once. Run it in a pod (the Helm chart) or by hand, through its launcher, which gives node its
 * memory settings: `operator/bin/ferry-operator --kubeconfig K`.
 */
import { connect } from "@ferry/common";
import { createLogger } from "@ferry/common/log";
import { EventRecorder, Metrics, runLeaderElection, startOpsServer } from "@ferry/common/runtime";
import { loadConfig } from "./config.ts";
import { buildOperator } from "./operator.ts";

async function main(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  let kube: ReturnType<typeof connect>;
  try {
    const pre = loadConfig(process.argv.slice(2), process.env, () => "");
    kube = connect(pre.kubeconfig);
    config = loadConfig(process.argv.slice(2), process.env, () => kube.server);
  } catch (err) {
    console.error(`ferry-operator: ${(err as Error).message}`);
    return 2;
  }
  const log = createLogger("ferry-operator", config.logLevel);
  const metrics = new Metrics();
  const shutdown = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log.info({ signal }, "stopping");
      shutdown.abort();
    });
  }
  let leading = false;
  let manager: ReturnType<typeof buildOperator> | undefined;
  const ops = await startOpsServer({
    port: config.metricsPort,
    host: "0.0.0.0",
    metrics,
    // A standby is ready too: it is healthy and waits for the lease.
    ready: () => !leading || manager?.ready === true,
  });
  log.info({ port: ops.port, identity: config.identity, version: config.defaultVersion }, "operator started");
  let lost = false;
  await runLeaderElection({
    kube,
    namespace: config.leaseNamespace,
    name: "ferry-operator",
    identity: config.identity,
    leaseDurationMs: config.leaderLeaseMs,
    // Renew well inside the lease, whatever its length (the defaults suit the default 15 s).
    renewEveryMs: Math.min(2_000, config.leaderLeaseMs / 4),
    renewDeadlineMs: Math.floor((config.leaderLeaseMs * 2) / 3),
    log,
    metrics,
    signal: shutdown.signal,
    onStartedLeading: async (signal) => {
      leading = true;
      log.info("leading: starting controllers");
      const events = new EventRecorder(kube, { component: "ferry-operator", host: config.identity }, log);
      manager = buildOperator({
        kube,
        log,
        metrics,
        events,
        config,
        ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
      });
      await manager.run(signal);
    },
    onStoppedLeading: () => {
      leading = false;
      if (!shutdown.signal.aborted) {
        lost = true;
        log.error("lost the leader lease: exiting so that a restart starts clean");
        shutdown.abort();
      }
    },
  });
  await ops.close();
  return lost ? 1 : 0;
}

process.exitCode = await main();
