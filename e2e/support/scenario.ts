/**
 * node:test glue for scenario files: PostgreSQL and Azurite for the whole file, and a Scope per
 * test (a fresh namespace on the suite's control plane, cleaned up when the test ends).
 */
import { after, before, type TestContext } from "node:test";
import { type AzuriteServer, type PostgresServer, startAzurite, startPostgres } from "@ferry/hack/services";
import { installCrds, testNamespace } from "@ferry/hack/testing";
import type { Scope, Services } from "./stack.ts";

/** Starts the services before the file's tests and stops them after; read them inside tests. */
export function useServices(): Services {
  const services = {} as { pg: PostgresServer; azurite: AzuriteServer };
  before(async () => {
    [services.pg, services.azurite] = await Promise.all([startPostgres(), startAzurite()]);
  });
  after(async () => {
    await Promise.all([services.pg?.stop(), services.azurite?.stop()]);
  });
  return services;
}

export async function testScope(t: TestContext): Promise<Scope> {
  const env = await testNamespace(t);
  await installCrds(env.kube);
  const deferred: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of deferred.reverse()) await fn();
  });
  return { ...env, defer: (fn) => void deferred.push(fn) };
}
