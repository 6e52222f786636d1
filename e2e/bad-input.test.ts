/**
 * Bad input, generated: property-based mutations of the valid samples (fast-check, seeded so a
 * failure replays) sent to the real API server. Every object the server refuses names a field,
 * and the ajv validators the operator and agent use (built from the same schema) reach the same
 * verdict on the same field; objects the server accepts, ajv accepts too.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeError, type KubeObject } from "@ferry/common";
import { type FerryObject, validate } from "@ferry/crds";
import { validObjects } from "@ferry/crds/fixtures";
import { installCrds, testNamespace } from "@ferry/hack/testing";
import fc from "fast-check";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value under spec, as key lists. */
function paths(value: Json, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

const BAD_VALUES: Json[] = [
  -1,
  0,
  2_147_483_648,
  1.5,
  "",
  "NotAnEnumValue",
  "x".repeat(700),
  "UPPER_case/with spaces",
  true,
  {},
  [],
  ["a", "a"],
];

interface Mutation {
  base: number;
  path: number;
  op: "set" | "delete";
  value: number;
}

function mutate(object: FerryObject, m: Mutation): { object: FerryObject; path: string } {
  const copy = structuredClone(object) as unknown as { spec: Json };
  // spec itself is a candidate too (a minimal object may have nothing under it).
  const all = paths(copy.spec, ["spec"]);
  const path = all[m.path % all.length]!;
  let node = copy as unknown as Record<string, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, Json>;
  const last = path.at(-1)!;
  if (m.op === "delete" && !Array.isArray(node)) delete node[last];
  else node[last] = structuredClone(BAD_VALUES[m.value % BAD_VALUES.length]!);
  return { object: copy as unknown as FerryObject, path: path.join(".") };
}

test("API server and ajv agree on 300 generated mutations, and every refusal names a field", async (t) => {
  const { kube, namespace } = await testNamespace(t);
  await installCrds(kube);
  const mutations = fc.sample(
    fc.record({
      base: fc.nat(),
      path: fc.nat(),
      op: fc.constantFrom("set" as const, "set" as const, "delete" as const),
      value: fc.nat(),
    }),
    { numRuns: 300, seed: 20261121 },
  );
  let refused = 0;
  const disagreements: string[] = [];
  for (const [i, m] of mutations.entries()) {
    const base = validObjects[m.base % validObjects.length]!.object;
    const { object, path } = mutate(base, m);
    object.metadata = { name: `m-${i}`, namespace };
    const local = validate(object.kind, object);
    let serverFields: string[] | undefined;
    try {
      await kube.create(object as unknown as KubeObject);
    } catch (err) {
      assert.ok(err instanceof KubeError, `mutation ${i} (${path}): ${String(err)}`);
      assert.equal(err.code, 422, `mutation ${i} (${path}): ${err.message}`);
      serverFields = err.causes.map((c) => c.field ?? "").filter(Boolean);
      assert.ok(
        serverFields.length > 0,
        `mutation ${i} (${path}): the refusal names no field: ${err.message}`,
      );
      refused++;
    }
    const what = `mutation ${i} of ${base.kind} at ${path}`;
    if (serverFields === undefined) {
      if (!local.valid)
        disagreements.push(`${what}: server accepts, ajv refuses ${local.errors.map((e) => e.field)}`);
    } else if (local.valid) {
      disagreements.push(`${what}: server refuses ${serverFields}, ajv accepts`);
    } else if (
      !local.errors.some((e) => serverFields!.some((f) => f.startsWith(e.field) || e.field.startsWith(f)))
    ) {
      disagreements.push(`${what}: server names ${serverFields}, ajv ${local.errors.map((e) => e.field)}`);
    }
  }
  assert.ok(refused >= 200, `at least 200 of the mutations are invalid (got ${refused})`);
  assert.deepEqual(disagreements, [], "ajv and the API server disagree");
});
