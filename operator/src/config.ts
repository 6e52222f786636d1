/**
 * The operator's settings, from its environment (what the Helm chart sets) with command-line
 * flags for running it by hand. Parsing only; defaults are written here once.
 */
import { parseArgs } from "node:util";
import type { OperatorConfig } from "./gateway/context.ts";

export interface ProcessConfig extends OperatorConfig {
  kubeconfig?: string;
  /** Namespace of the leader-election Lease (the operator's own). */
  leaseNamespace: string;
  identity: string;
  watchNamespace?: string;
  metricsPort: number;
  logLevel: string;
  /** The leader Lease's duration; a standby takes over at most this long after a crash. */
  leaderLeaseMs: number;
}

const minutes = (n: number) => n * 60_000;

export function loadConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
  serverFallback: () => string,
): ProcessConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      "metrics-port": { type: "string" },
      "watch-namespace": { type: "string" },
      "lease-namespace": { type: "string" },
      identity: { type: "string" },
      "log-level": { type: "string" },
    },
    strict: true,
  });
  const number = (text: string | undefined, fallback: number, what: string) => {
    if (text === undefined || text === "") return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${what} must be a non-negative number, got "${text}"`);
    return n;
  };
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    leaseNamespace: values["lease-namespace"] ?? env.FERRY_OPERATOR_NAMESPACE ?? "ferry-system",
    identity: `${values.identity ?? env.FERRY_OPERATOR_POD ?? env.HOSTNAME ?? "ferry-operator"}-${process.pid}`,
    ...((values["watch-namespace"] ?? env.FERRY_WATCH_NAMESPACE)
      ? { watchNamespace: (values["watch-namespace"] ?? env.FERRY_WATCH_NAMESPACE)! }
      : {}),
    metricsPort: number(values["metrics-port"] ?? env.FERRY_PORT_METRICS, 8080, "the metrics port"),
    logLevel: values["log-level"] ?? env.FERRY_LOG_LEVEL ?? "info",
    leaderLeaseMs: number(env.FERRY_LEADER_LEASE_SECONDS, 15, "FERRY_LEADER_LEASE_SECONDS") * 1000,
    defaultImage: env.FERRY_AGENT_IMAGE || "ferry/agent",
    defaultVersion: env.FERRY_VERSION || "0.1.0",
    systemProxy: {
      ...(env.HTTPS_PROXY ? { httpsProxy: env.HTTPS_PROXY } : {}),
      ...(env.HTTP_PROXY ? { httpProxy: env.HTTP_PROXY } : {}),
      ...(env.NO_PROXY ? { noProxy: env.NO_PROXY } : {}),
    },
    registrationServer: env.FERRY_REGISTRATION_SERVER || serverFallback(),
    scaleInQuietPeriodMs: number(env.FERRY_SCALE_IN_QUIET_MS, minutes(5), "FERRY_SCALE_IN_QUIET_MS"),
    rolloutReadyTimeoutMs: number(
      env.FERRY_ROLLOUT_READY_TIMEOUT_MS,
      minutes(5),
      "FERRY_ROLLOUT_READY_TIMEOUT_MS",
    ),
    externalNodeOfflineMs: number(
      env.FERRY_EXTERNAL_NODE_OFFLINE_MS,
      minutes(24 * 60),
      "FERRY_EXTERNAL_NODE_OFFLINE_MS",
    ),
    nodeCertificateDays: number(env.FERRY_NODE_CERT_DAYS, 90, "FERRY_NODE_CERT_DAYS"),
    caDays: number(env.FERRY_CA_DAYS, 3650, "FERRY_CA_DAYS"),
    autotuneCooldownMs: number(env.FERRY_AUTOTUNE_COOLDOWN_MS, 60_000, "FERRY_AUTOTUNE_COOLDOWN_MS"),
    caPropagationMs: number(env.FERRY_CA_PROPAGATION_MS, minutes(5), "FERRY_CA_PROPAGATION_MS"),
  };
}
