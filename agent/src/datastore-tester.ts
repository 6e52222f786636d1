/**
 * Connection tests: while this node is the dispatcher it tests every DataStore of the gateway when
 * it changes (a generation not yet tested) and every `everyMs` (sooner after credentials it could
 * not resolve yet: testDueAt), and writes Reachable,
 * lastTestedTime and testedBy as `ferry-agent`. One node tests, so a store is not hammered by all.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Kube } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { applyStatus, Informer, metaTime } from "@ferry/common/runtime";
import type { DataStore } from "@ferry/crds";
import type { CredentialResolver } from "./credentials.ts";
import { CredentialError } from "./credentials.ts";
import { testConnection } from "./dataplane/index.ts";
import { API_VERSION, dataStoreRef, FIELD_MANAGER } from "./names.ts";

export interface TesterOptions {
  kube: Kube;
  namespace: string;
  gateway: string;
  node: string;
  resolver: CredentialResolver;
  everyMs: number;
  log: Logger;
}

/**
 * Why a test failed before it reached the store: credentials not resolvable yet, which the cluster
 * puts right by itself, within seconds (the operator's Role for a Secret a new DataStore names, a
 * Secret applied after its DataStore, the credential key still loading). Such a store is tested
 * again soon, 2 s after the first failure and then at intervals as long as it has been failing (so
 * a Secret that never comes costs a read at ever longer intervals, up to `everyMs`): it does not read
 * False for a whole interval while it works. One the store itself refused (AuthenticationFailed,
 * ...) waits the interval, not to lock an account out by retrying a wrong password.
 */
const UNRESOLVED = new Set(["SecretForbidden", "SecretNotFound", "CredentialKeyNotLoaded"]);
export const UNRESOLVED_FIRST_RETEST_MS = 2_000;

/**
 * When the store is due for a test (a time in ms; 0: now): never tested, or its spec changed since;
 * else `everyMs` after the last test, or sooner when its credentials could not be resolved.
 */
export function testDueAt(ds: DataStore, everyMs: number): number {
  const tested = Date.parse(ds.status?.lastTestedTime ?? "");
  if (!tested) return 0;
  if ((ds.status?.observedGeneration ?? 0) !== (ds.metadata.generation ?? 0)) return 0;
  const reachable = ds.status?.conditions?.find((c) => c.type === "Reachable");
  if (reachable?.status === "False" && UNRESOLVED.has(reachable.reason ?? "")) {
    const failingFor = tested - (Date.parse(reachable.lastTransitionTime ?? "") || tested);
    return tested + Math.min(everyMs, Math.max(UNRESOLVED_FIRST_RETEST_MS, failingFor));
  }
  return tested + everyMs;
}

export async function runDataStoreTester(o: TesterOptions, signal: AbortSignal): Promise<void> {
  const stores = new Informer<DataStore>(
    o.kube,
    { apiVersion: API_VERSION, kind: "DataStore", namespace: o.namespace },
    o.log,
  );
  let wake: () => void = () => {};
  stores.on(() => wake());
  await stores.start(signal);
  while (!signal.aborted) {
    // Until the next store is due, at most 10 s (a status written by a test arrives as an event).
    let next = Date.now() + Math.min(o.everyMs, 10_000);
    for (const ds of stores.store.list()) {
      if (signal.aborted || ds.spec.gatewayRef.name !== o.gateway) continue;
      const due = testDueAt(ds, o.everyMs);
      if (due > Date.now()) {
        next = Math.min(next, due);
        continue;
      }
      await test(ds).catch((err: unknown) =>
        o.log.warn({ err, dataStore: ds.metadata.name }, "connection test could not be recorded"),
      );
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      delay(Math.max(100, next - Date.now()), undefined, { signal }).then(resolve, resolve);
    });
  }

  async function test(ds: DataStore): Promise<void> {
    let result: { reachable: boolean; reason: string; message: string };
    try {
      result = await testConnection({ store: await o.resolver.resolve(ds), signal });
    } catch (err) {
      if (!(err instanceof CredentialError)) throw err;
      result = { reachable: false, reason: err.reason, message: err.message };
    }
    const now = new Date();
    await applyStatus(o.kube, dataStoreRef(o.namespace, ds.metadata.name), FIELD_MANAGER, {
      lastTestedTime: metaTime(now),
      testedBy: o.node,
      observedGeneration: ds.metadata.generation,
      conditions: [
        {
          type: "Reachable",
          status: result.reachable ? "True" : "False",
          reason: result.reason,
          message: result.message,
          observedGeneration: ds.metadata.generation,
        },
      ],
    });
    o.log.info(
      { dataStore: ds.metadata.name, reachable: result.reachable, reason: result.reason },
      "connection tested",
    );
  }
}
