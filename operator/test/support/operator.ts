/**
 * Runs the operator in-process for one test: scoped to the test's namespace, with short timers,
 * stopped when the test ends. The same wiring as the operator process (buildOperator).
 */
import type { TestContext } from "node:test";
import type { Kube } from "@ferry/common";
import { createLogger } from "@ferry/common/log";
import { EventRecorder, Metrics } from "@ferry/common/runtime";
import type { OperatorConfig } from "../../src/gateway/context.ts";
import { buildOperator } from "../../src/operator.ts";

export function testConfig(kube: Kube, overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    defaultImage: "ferry/agent",
    defaultVersion: "1.0.0",
    systemProxy: {},
    registrationServer: kube.server,
    scaleInQuietPeriodMs: 60_000,
    rolloutReadyTimeoutMs: 60_000,
    externalNodeOfflineMs: 0,
    nodeCertificateDays: 90,
    caDays: 365,
    caPropagationMs: 1_000,
    autotuneCooldownMs: 1_000,
    ...overrides,
  };
}

export interface RunningOperator {
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function runOperator(
  t: TestContext,
  kube: Kube,
  namespace: string,
  overrides: Partial<OperatorConfig> = {},
): Promise<RunningOperator> {
  const log = createLogger("ferry-operator-test", process.env.FERRY_TEST_LOG_LEVEL ?? "warn");
  const metrics = new Metrics();
  const events = new EventRecorder(kube, { component: "ferry-operator" }, log);
  const manager = buildOperator({
    kube,
    log,
    metrics,
    events,
    config: testConfig(kube, overrides),
    namespace,
    resyncMs: 0,
  });
  const stop = new AbortController();
  await manager.start(stop.signal);
  let stopped = false;
  const halt = async () => {
    if (stopped) return;
    stopped = true;
    stop.abort();
    await manager.stopped();
  };
  t.after(halt);
  return { metrics, stop: halt };
}
