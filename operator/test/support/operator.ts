/**
 * Runs the operator in-process for one test: scoped to the test's namespace, with short timers,
 * stopped when the test ends. The same wiring as the operator process (buildOperator).
 */
import type { TestContext } from "node:test";
import type { Kube, ObjectRef } from "@ferry/common";
import { createLogger } from "@ferry/common/log";
import { EventRecorder, Metrics } from "@ferry/common/runtime";
import { eventually } from "@ferry/hack/testing";
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

/**
 * Changes the gateway `ref` (an annotation, not its spec), which is reconciled at once, and waits
 * for that reconcile: each call is one more reconcile, for tests that count what reconciles do.
 */
export function gatewayToucher(kube: Kube, operator: RunningOperator, ref: ObjectRef): () => Promise<void> {
  const reconciles = () =>
    operator.metrics
      .histogram("ferry_reconcile_duration_seconds", "", ["controller"])
      .get({ controller: "gateway" }).count;
  let touches = 0;
  return async () => {
    const before = reconciles();
    await kube.mergePatch(ref, { metadata: { annotations: { "example.com/touched": String(++touches) } } });
    await eventually("the touch reconciled", async () => reconciles() > before);
  };
}
