/**
 * The agent's settings from its command line and environment, parsed without I/O so the rules are
 * tested as a table. Flags win over the environment. Durations are seconds (fractions allowed, for
 * tests that need short leases).
 *
 *   --kubeconfig <path>        development: the identity of a kubeconfig (needs --gateway, --namespace)
 *   --key <key> | --key-file   outside the cluster: the registration key
 *   --node <name>              the GatewayNode name (FERRY_NODE; default: the host name)
 *   --gateway, --namespace     (FERRY_GATEWAY, FERRY_NAMESPACE) taken from the key when one is given
 *   --state-dir <dir>          (FERRY_STATE_DIR) keeps the instance id across restarts
 *   --ops-port <port>          (FERRY_PORT_OPS, default 8443; 0 = any free port, -1 = off)
 *   --lease-seconds, --renew-seconds              node Lease (FERRY_LEASE_SECONDS 15, FERRY_RENEW_SECONDS 5)
 *   --dispatcher-lease-seconds                    (FERRY_DISPATCHER_LEASE_SECONDS 15)
 *   --status-seconds           GatewayNode status period (FERRY_STATUS_SECONDS 12)
 *   --progress-seconds         least time between progress writes (FERRY_PROGRESS_SECONDS 3)
 *   --drain-seconds            SIGTERM grace for running jobs (FERRY_DRAIN_SECONDS 30)
 *   --test-seconds             DataStore connection test period (FERRY_TEST_SECONDS 300)
 *   --concurrency <n>          default slots when neither node nor gateway sets one (FERRY_CONCURRENCY)
 *   FERRY_VERSION, FERRY_CREDENTIAL_KEY_DIR, FERRY_TLS_DIR, FERRY_PROXY_MODE, FERRY_LOG_LEVEL
 */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface AgentConfig {
  kubeconfig?: string;
  key?: string;
  keyFile?: string;
  node: string;
  gateway?: string;
  namespace?: string;
  stateDir?: string;
  version: string;
  credentialKeyDir?: string;
  tlsDir?: string;
  proxyMode?: string;
  opsPort: number;
  leaseMs: number;
  renewMs: number;
  dispatcherLeaseMs: number;
  statusMs: number;
  progressMs: number;
  drainMs: number;
  testMs: number;
  concurrency?: number;
  logLevel: string;
}

const OPTIONS = {
  kubeconfig: { type: "string" },
  key: { type: "string" },
  "key-file": { type: "string" },
  node: { type: "string" },
  gateway: { type: "string" },
  namespace: { type: "string" },
  "state-dir": { type: "string" },
  "ops-port": { type: "string" },
  "lease-seconds": { type: "string" },
  "renew-seconds": { type: "string" },
  "dispatcher-lease-seconds": { type: "string" },
  "status-seconds": { type: "string" },
  "progress-seconds": { type: "string" },
  "drain-seconds": { type: "string" },
  "test-seconds": { type: "string" },
  concurrency: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const USAGE = `usage: ferry-agent [--key <registration key> | --key-file <file>] [--node <name>] [--state-dir <dir>]
       ferry-agent --kubeconfig <file> --namespace <ns> --gateway <gw> --node <name>   (development)
In a pod the ServiceAccount and FERRY_NAMESPACE, FERRY_GATEWAY, FERRY_NODE are used.`;

function seconds(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback * 1000;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new UsageError(`--${name} must be a positive number of seconds, not "${text}"`);
  return value * 1000;
}

/** Returns undefined for --help. */
export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  hostname: string,
): AgentConfig | undefined {
  let values: ReturnType<
    typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: false }>
  >["values"];
  try {
    values = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  if (values.key && values["key-file"]) throw new UsageError("give either --key or --key-file, not both");
  const node = values.node ?? env.FERRY_NODE ?? hostname;
  if (!/^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$/.test(node)) {
    throw new UsageError(
      `the node name "${node}" is not a DNS label (lower-case letters, digits and '-', at most 52)`,
    );
  }
  const opsPort = Number(values["ops-port"] ?? env.FERRY_PORT_OPS ?? 8443);
  if (!Number.isInteger(opsPort) || opsPort < -1 || opsPort > 65535)
    throw new UsageError(`bad ops port "${opsPort}"`);
  const concurrencyText = values.concurrency ?? env.FERRY_CONCURRENCY;
  const concurrency = concurrencyText === undefined ? undefined : Number(concurrencyText);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new UsageError(`--concurrency must be a positive integer, not "${concurrencyText}"`);
  }
  const config: AgentConfig = {
    node,
    version: env.FERRY_VERSION ?? "dev",
    opsPort,
    leaseMs: seconds("lease-seconds", values["lease-seconds"] ?? env.FERRY_LEASE_SECONDS, 15),
    renewMs: seconds("renew-seconds", values["renew-seconds"] ?? env.FERRY_RENEW_SECONDS, 5),
    dispatcherLeaseMs: seconds(
      "dispatcher-lease-seconds",
      values["dispatcher-lease-seconds"] ?? env.FERRY_DISPATCHER_LEASE_SECONDS,
      15,
    ),
    statusMs: seconds("status-seconds", values["status-seconds"] ?? env.FERRY_STATUS_SECONDS, 12),
    progressMs: seconds("progress-seconds", values["progress-seconds"] ?? env.FERRY_PROGRESS_SECONDS, 3),
    drainMs: seconds("drain-seconds", values["drain-seconds"] ?? env.FERRY_DRAIN_SECONDS, 30),
    testMs: seconds("test-seconds", values["test-seconds"] ?? env.FERRY_TEST_SECONDS, 300),
    logLevel: env.FERRY_LOG_LEVEL ?? "info",
  };
  if (config.renewMs >= config.leaseMs)
    throw new UsageError("the renew period must be shorter than the lease");
  const optional: Partial<AgentConfig> = {
    kubeconfig: values.kubeconfig,
    key: values.key,
    keyFile: values["key-file"],
    gateway: values.gateway ?? env.FERRY_GATEWAY,
    namespace: values.namespace ?? env.FERRY_NAMESPACE,
    stateDir: values["state-dir"] ?? env.FERRY_STATE_DIR,
    credentialKeyDir: env.FERRY_CREDENTIAL_KEY_DIR,
    tlsDir: env.FERRY_TLS_DIR,
    proxyMode: env.FERRY_PROXY_MODE,
    concurrency,
  };
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (config as unknown as Record<string, unknown>)[k] = v;
  return config;
}
