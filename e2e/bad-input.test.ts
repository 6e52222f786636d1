/**
 * Bad input, generated: property-based mutations of the valid samples (fast-check, seeded so a
 * failure replays) sent to the real API server. Every object the server refuses names a field,
 * and the ajv validators the operator and agent use (built from the same schema) reach the same
 * verdict on the same field; objects the server accepts, ajv accepts too. Then connection data
 * that is well-formed but wrong (a host that does not resolve, a closed port, a wrong password,
 * credentials sealed to another gateway's key): each job fails with a reason and a message saying
 * what to fix, no agent crashes, and the next good copy is exact.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  generateCredentialKeyPair,
  KubeError,
  type KubeObject,
  type Pod,
  sealCredentials,
} from "@ferry/common";
import { type DataStore, type FerryObject, validate } from "@ferry/crds";
import { validObjects } from "@ferry/crds/fixtures";
import { installCrds, testNamespace } from "@ferry/hack/testing";
import fc from "fast-check";
import {
  checkOutput,
  copyJob,
  getGateway,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

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

const services = useServices();

/** Connection data that passes admission but cannot work, and what the job must say about it. */
const BROKEN_STORES: {
  name: string;
  why: RegExp;
  reasons: string[];
  edit: (s: DataStore, publicKey: string) => void;
}[] = [
  {
    name: "pg-no-such-host",
    reasons: ["DnsFailure"],
    why: /resolve|host/i,
    edit: (s) => void Object.assign(s.spec.connection as object, { host: "no-such-host.invalid" }),
  },
  {
    name: "pg-closed-port",
    reasons: ["ConnectionRefused"],
    why: /refused|port/i,
    edit: (s) => void Object.assign(s.spec.connection as object, { port: 1 }),
  },
  {
    name: "pg-wrong-password",
    reasons: ["AuthenticationFailed"],
    why: /password/i,
    edit: (s, publicKey) => {
      s.spec.credentials = {
        encrypted: sealCredentials(publicKey, { username: "nobody", password: "not-the-password" }),
      };
    },
  },
  {
    name: "pg-foreign-seal",
    reasons: ["CredentialsWrongKey"],
    why: /sealed to another key/,
    edit: (s) => {
      s.spec.credentials = {
        encrypted: sealCredentials(generateCredentialKeyPair().publicKey, { username: "u", password: "p" }),
      };
    },
  },
];

test("malformed connection data fails the job with a clear reason; nothing crashes; no row is lost", async (t) => {
  const stack = await startStack(await testScope(t), services, { rows: 2_000 });
  const source = (await stack.kube.get<DataStore>({
    apiVersion: "ferry.dev/v1alpha1",
    kind: "DataStore",
    namespace: stack.namespace,
    name: "pg-source",
  }))!;
  const publicKey = (await getGateway(stack.kube, stack.namespace, stack.gateway))!.status!.publicKey!;
  for (const broken of BROKEN_STORES) {
    const store: DataStore = {
      apiVersion: source.apiVersion,
      kind: source.kind,
      metadata: { name: broken.name, namespace: stack.namespace },
      spec: structuredClone(source.spec),
    };
    broken.edit(store, publicKey);
    await stack.kube.create(store);
    await stack.kube.create(copyJob(stack, `from-${broken.name}`, { source: broken.name, maxAttempts: 2 }));
  }
  for (const broken of BROKEN_STORES) {
    const job = await waitFinal(stack, `from-${broken.name}`, 120_000);
    const last = job.status?.attempts?.at(-1);
    t.diagnostic(`${broken.name}: ${job.status?.phase}, ${last?.reason}: ${last?.message}`);
    assert.equal(job.status?.phase, "Failed", broken.name);
    assert.ok(broken.reasons.includes(last?.reason ?? ""), `${broken.name}: reason ${last?.reason}`);
    assert.match(last?.message ?? "", broken.why, `${broken.name}: the message says what to fix`);
    const ready = job.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.status, "False", `${broken.name}: Ready is False`);
    assert.ok(
      broken.reasons.includes(ready?.reason ?? ""),
      `${broken.name}: Ready says why (${ready?.reason})`,
    );
  }
  // Nothing crashed: every agent still runs its first process, and the gateway still copies exactly.
  const pods = await stack.kube.list<Pod>("v1", "Pod", stack.namespace, {
    labelSelector: "app.kubernetes.io/component=agent",
  });
  for (const pod of pods)
    assert.equal(pod.status?.containerStatuses?.[0]?.restartCount, 0, `${pod.metadata.name} restarted`);
  await stack.kube.create(copyJob(stack, "good-after-bad"));
  const good = await waitFinal(stack, "good-after-bad");
  assert.equal(good.status?.phase, "Succeeded");
  const out = await checkOutput(stack, good);
  assert.deepEqual([out.lost, out.duplicated, out.outputRows], [0, 0, stack.rows]);
});
