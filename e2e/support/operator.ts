/**
 * The operator as users run it outside a cluster (`node operator/src/main.ts`, with the node
 * options and defaults of its launcher, operator/bin/ferry-operator), scoped to one namespace, with
 * timers short enough for scenarios: a 4 s leader lease, so a restarted operator takes over in
 * seconds rather than the production 15.
 */
import { launcherEnv, operatorLaunch } from "@ferry/hack/testing";
import { type Logged, OPERATOR_MAIN, spawnLogged } from "./processes.ts";

// CA propagation outlasts the process node's 5 s refresh of mounted Secrets, or trust would break.
export const FAST_OPERATOR_ENV: Record<string, string> = {
  FERRY_LEADER_LEASE_SECONDS: "4",
  FERRY_SCALE_IN_QUIET_MS: "5000",
  FERRY_ROLLOUT_READY_TIMEOUT_MS: "20000",
  FERRY_AUTOTUNE_COOLDOWN_MS: "1000",
  FERRY_CA_PROPAGATION_MS: "10000",
  FERRY_VERSION: "1.0.0",
  FERRY_LOG_LEVEL: "info",
};

export function startOperator(
  kubeconfig: string,
  namespace: string,
  env: Record<string, string> = {},
  identity = "operator",
): Logged {
  const launch = operatorLaunch();
  return spawnLogged(
    identity,
    [
      ...launch.nodeFlags,
      OPERATOR_MAIN,
      "--kubeconfig",
      kubeconfig,
      "--watch-namespace",
      namespace,
      "--lease-namespace",
      namespace,
      "--identity",
      identity,
      "--metrics-port",
      "0",
    ],
    { ...launcherEnv(launch), ...FAST_OPERATOR_ENV, ...env },
  );
}
