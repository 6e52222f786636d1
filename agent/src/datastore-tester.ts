/**
 * Connection tests: while this node is the dispatcher it tests every DataStore of the gateway when
 * it changes (a generation not yet tested) and every `everyMs` (sooner after credentials it could
 * not resolve yet: testDue), and writes Reachable,
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
 * again after UNRESOLVED_RETEST_MS, so it does not read False for a whole interval while it works;
 * one the store itself refused (AuthenticationFailed, ...) waits the interval, not to lock an
 * account out by retrying a wrong password.
 */
const UNRESOLVED = new Set(["SecretForbidden", "SecretNotFound", "CredentialKeyNotLoaded"]);
export const UNRESOLVED_RETEST_MS = 10_000;

/**
 * Due when never tested, its spec changed since, or the last test is older than `everyMs` (or
 * than UNRESOLVED_RETEST_MS, when its credentials could not be resolved).
 */
export function testDue(ds: DataStore, now: number, everyMs: number): boolean {
  const tested = Date.parse(ds.status?.lastTestedTime ?? "");
  if (!tested) return true;
  if ((ds.status?.observedGeneration ?? 0) !== (ds.metadata.generation ?? 0)) return true;
  const reachable = ds.status?.conditions?.find((c) => c.type === "Reachable");
  const unresolved = reachable?.status === "False" && UNRESOLVED.has(reachable.reason ?? "");
  return now - tested >= (unresolved ? Math.min(everyMs, UNRESOLVED_RETEST_MS) : everyMs);
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
    for (const ds of stores.store.list()) {
      if (signal.aborted || ds.spec.gatewayRef.name !== o.gateway || !testDue(ds, Date.now(), o.everyMs))
        continue;
      await test(ds).catch((err: unknown) =>
        o.log.warn({ err, dataStore: ds.metadata.name }, "connection test could not be recorded"),
      );
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      delay(Math.min(o.everyMs, 10_000), undefined, { signal }).then(resolve, resolve);
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
