/**
 * When the dispatcher tests a DataStore again (testDueAt): at once when new or changed, after the
 * interval when it was reached, and soon after credentials that could not be resolved yet, backing
 * off as long as they stay so. The whole loop against a real API server is in agents.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DataStore } from "@ferry/crds";
import { dataStoreFixture } from "@ferry/crds/fixtures";
import { testDueAt, UNRESOLVED_FIRST_RETEST_MS } from "../src/datastore-tester.ts";

const EVERY = 300_000;
const T = Date.parse("2026-11-22T08:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function tested(reachable: boolean, reason: string, failingSinceMs = T): DataStore {
  const ds = dataStoreFixture("store");
  ds.metadata.generation = 3;
  ds.status = {
    lastTestedTime: iso(T),
    observedGeneration: 3,
    conditions: [
      {
        type: "Reachable",
        status: reachable ? "True" : "False",
        reason,
        message: "",
        lastTransitionTime: iso(failingSinceMs),
        observedGeneration: 3,
      },
    ],
  };
  return ds;
}

test("a store never tested, or changed since its test, is due now", () => {
  assert.equal(testDueAt(dataStoreFixture("new"), EVERY), 0);
  const changed = tested(true, "Connected");
  changed.metadata.generation = 4;
  assert.equal(testDueAt(changed, EVERY), 0);
});

test("a store that was reached is due after the interval, refused or not", () => {
  assert.equal(testDueAt(tested(true, "Connected"), EVERY), T + EVERY);
  // A wrong password is not retried sooner: that could lock the account out.
  assert.equal(testDueAt(tested(false, "AuthenticationFailed"), EVERY), T + EVERY);
  assert.equal(testDueAt(tested(false, "DnsFailure", T - 3_600_000), EVERY), T + EVERY);
});

test("credentials not resolvable yet: due soon, then at intervals as long as they have been failing", () => {
  for (const reason of ["SecretForbidden", "SecretNotFound", "CredentialKeyNotLoaded"]) {
    assert.equal(testDueAt(tested(false, reason), EVERY), T + UNRESOLVED_FIRST_RETEST_MS, reason);
    assert.equal(testDueAt(tested(false, reason, T - 60_000), EVERY), T + 60_000, reason);
    assert.equal(testDueAt(tested(false, reason, T - 3_600_000), EVERY), T + EVERY, reason);
  }
  // Never more often than the interval itself asks.
  assert.equal(testDueAt(tested(false, "SecretNotFound"), 1_000), T + 1_000);
});
