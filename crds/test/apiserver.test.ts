/**
 * The API as the real kube-apiserver enforces it: the generated CRDs install, samples are
 * accepted, every invalid object is refused naming its field, and the ajv validators built from
 * the same schema agree with the server on every case.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { type Kube, KubeError, type KubeObject } from "@ferry/common/kube";
import { installCrds, kubectl, testKube, testNamespace } from "@ferry/hack/testing";
import { validate } from "../src/index.ts";
import { invalidObjects, invalidUpdates, validObjects } from "./fixtures/index.ts";

type Obj = KubeObject & Record<string, unknown>;

function inNamespace<T extends Obj>(object: T, namespace: string): T {
  return { ...object, metadata: { ...object.metadata, namespace } };
}

/** The field paths the server names: the structured causes, and the message as a fallback. */
function namedFields(err: KubeError): string {
  return [...err.causes.map((c) => c.field ?? ""), err.message].join("\n");
}

async function refusal(fn: () => Promise<unknown>): Promise<KubeError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof KubeError, `expected an API refusal, got ${String(err)}`);
    return err;
  }
  assert.fail("the API server accepted it");
}

let kube: Kube;
before(async () => {
  kube = testKube();
  await installCrds(kube);
});

describe("Ferry CRDs on a real API server", () => {
  test("every valid object and sample is accepted and agrees with ajv", async (t) => {
    const { namespace } = await testNamespace(t);
    assert.ok(validObjects.length >= 6);
    for (const { name, object } of validObjects) {
      const result = validate(object.kind, object);
      assert.equal(result.valid, true, `${name}: ajv rejects a valid object: ${JSON.stringify(result)}`);
      const created = await kube.create(inNamespace(object as Obj, namespace));
      assert.ok(created.metadata.uid, `${name}: created`);
    }
  });

  test("every invalid object is refused naming its field, by the server and by ajv", async (t) => {
    const { namespace } = await testNamespace(t);
    assert.ok(invalidObjects.length >= 40, `at least 40 invalid cases, have ${invalidObjects.length}`);
    const disagreements: string[] = [];
    for (const { name, object, field } of invalidObjects) {
      const err = await refusal(() => kube.create(inNamespace(object as Obj, namespace)));
      assert.equal(err.code, 422, `${name}: ${err.message}`);
      assert.ok(
        namedFields(err).includes(field),
        `${name}: the server should name ${field}, said: ${err.message}`,
      );
      const result = validate(object.kind, object);
      if (result.valid) disagreements.push(`${name}: ajv accepts it`);
      else if (!result.errors.some((e) => e.field.startsWith(field) || field.startsWith(e.field))) {
        disagreements.push(
          `${name}: ajv names ${result.errors.map((e) => e.field).join(", ")}, server ${field}`,
        );
      }
    }
    assert.deepEqual(disagreements, [], "ajv and the API server disagree");
  });

  test("immutable fields refuse updates naming the field", async (t) => {
    const { namespace } = await testNamespace(t);
    assert.ok(invalidUpdates.length >= 2);
    for (const { name, before: old, after, field } of invalidUpdates) {
      const created = await kube.create(inNamespace(old as Obj, namespace));
      const err = await refusal(() =>
        kube.replace({
          ...inNamespace(after as Obj, namespace),
          metadata: { ...created.metadata },
        }),
      );
      assert.equal(err.code, 422, `${name}: ${err.message}`);
      assert.ok(namedFields(err).includes(field), `${name}: should name ${field}, said: ${err.message}`);
    }
  });

  test("kubectl explain reads like documentation", async () => {
    const out = await kubectl(["explain", "logicalgateways.spec.nodes"]);
    assert.match(out, /GROUP:\s+ferry\.dev/);
    assert.match(out, /min\s+<integer>/);
    assert.match(out, /max\s+<integer>/);
    const job = await kubectl(["explain", "copyjob.spec.sink.format"]);
    assert.match(job, /ENUM:[\s\S]*Csv[\s\S]*JsonLines[\s\S]*Parquet/);
    for (const kind of ["logicalgateway", "gatewaynode", "datastore", "copyjob"]) {
      const spec = await kubectl(["explain", `${kind}.spec`]);
      assert.doesNotMatch(spec, /<empty>/, `${kind}.spec has an undocumented field`);
    }
  });

  test("kubectl get shows the printer columns, short names and the ferry category", async (t) => {
    const { namespace } = await testNamespace(t);
    const gateway = validObjects.find((v) => v.object.kind === "LogicalGateway")!.object as Obj;
    const created = await kube.create(inNamespace(gateway, namespace));
    await kube.mergePatch(
      { apiVersion: created.apiVersion, kind: created.kind, namespace, name: created.metadata.name },
      { status: { phase: "Online", version: "1.2.3", dispatcher: "node-a" } },
      "status",
    );
    const out = await kubectl(["get", "lgw", "-n", namespace]);
    const [header, row] = out.trim().split("\n");
    for (const column of ["NAME", "PHASE", "DISPATCHER", "VERSION", "PENDING", "AGE"]) {
      assert.match(header ?? "", new RegExp(`\\b${column}\\b`), `column ${column}`);
    }
    assert.match(row ?? "", /Online/);
    assert.match(row ?? "", /node-a/);
    assert.match(row ?? "", /1\.2\.3/);
    const all = await kubectl(["get", "ferry", "-n", namespace, "-o", "name"]);
    assert.match(all, new RegExp(`logicalgateway\\.ferry\\.dev/${created.metadata.name}`));
    for (const short of ["gwn", "cj", "ds"]) await kubectl(["get", short, "-n", namespace]);
  });
});
