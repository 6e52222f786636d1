import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openAPISchemas } from "../src/generated/schemas.ts";
import { type FieldError, validate, withDefaults } from "../src/index.ts";
import type { Schema } from "../src/schema/dialect.ts";
import {
  copyJobFixture,
  gatewayFixture,
  invalidObjects,
  invalidUpdates,
  samples,
  set,
  validObjects,
} from "./fixtures/index.ts";

function errorsOf(result: ReturnType<typeof validate>): FieldError[] {
  return result.valid ? [] : result.errors;
}

describe("the fixture tables", () => {
  test("are large enough and cover every kind", () => {
    assert.ok(invalidObjects.length >= 45, `${invalidObjects.length} invalid objects`);
    for (const kind of ["LogicalGateway", "GatewayNode", "DataStore", "CopyJob"]) {
      assert.ok(
        validObjects.some((c) => c.object.kind === kind),
        `a valid ${kind}`,
      );
      assert.ok(
        invalidObjects.some((c) => c.object.kind === kind),
        `an invalid ${kind}`,
      );
    }
  });

  test("valid objects have unique names, so all of them can be created side by side", () => {
    const keys = validObjects.map((c) => `${c.object.kind}/${c.object.metadata.name}`);
    assert.deepEqual([...new Set(keys)], keys);
  });

  test("the samples are the demo's objects", () => {
    const names = samples().map(({ object }) => `${object.kind}/${object.metadata.name}`);
    assert.deepEqual(names.sort(), [
      "CopyJob/orders-to-blob",
      "DataStore/blob-sink",
      "DataStore/erp-sqlserver",
      "DataStore/pg-source",
      "GatewayNode/vm-node-1",
      "LogicalGateway/demo",
    ]);
  });
});

describe("validate", () => {
  for (const { name, object } of validObjects) {
    test(`accepts ${name}`, () => {
      assert.deepEqual(errorsOf(validate(object.kind, object)), []);
    });
  }

  for (const { name, object, field } of invalidObjects) {
    test(`refuses ${name}, naming ${field}`, () => {
      const errors = errorsOf(validate(object.kind, object));
      assert.ok(errors.length > 0, "accepted");
      // Each case is invalid for one reason, so every error must be about that one field.
      assert.deepEqual([...new Set(errors.map((e) => e.field))], [field], JSON.stringify(errors));
    });
  }

  test("reports a CEL rule's own message", () => {
    const result = validate("LogicalGateway", gatewayFixture("g", set("spec.nodes", { min: 5, max: 2 })));
    assert.deepEqual(errorsOf(result), [{ field: "spec.nodes.min", message: "min must not exceed max" }]);
  });

  test("skips CEL rules when the schema already failed, as the API server does", () => {
    // Both a type error and a broken rule: only the type error may be reported.
    const object = gatewayFixture("g", set("spec.nodes", { min: 5, max: 2 }), set("spec.tls.mode", 7));
    assert.deepEqual(
      errorsOf(validate("LogicalGateway", object)).map((e) => e.field),
      ["spec.tls.mode", "spec.tls.mode"],
    );
  });

  test("evaluates CEL rules when only non-blocking schema errors exist", () => {
    const object = gatewayFixture(
      "g",
      set("spec.nodes", { min: 5, max: 2 }),
      set("spec.update.window", { start: "9am", durationMinutes: 60 }),
    );
    const fields = errorsOf(validate("LogicalGateway", object)).map((e) => e.field);
    assert.deepEqual(fields.sort(), ["spec.nodes.min", "spec.update.window.start"]);
  });

  test("checks kind and apiVersion first, like the API server", () => {
    const object = { ...gatewayFixture("g"), kind: "CopyJob", apiVersion: "ferry.dev/v1" };
    assert.deepEqual(
      errorsOf(validate("LogicalGateway", object)).map((e) => e.field),
      ["kind", "apiVersion"],
    );
  });

  test("requires a DNS subdomain name for every kind", () => {
    const errors = errorsOf(validate("CopyJob", copyJobFixture("Nightly_Orders")));
    assert.deepEqual(
      errors.map((e) => e.field),
      ["metadata.name"],
    );
  });

  test("does not change its argument", () => {
    const object = gatewayFixture("g");
    const before = structuredClone(object);
    validate("LogicalGateway", object);
    assert.deepEqual(object, before);
  });
});

function schemaAt(root: Schema, field: string): Schema | undefined {
  let node: Schema | undefined = root;
  for (const key of field.split(".")) node = node?.properties?.[key];
  return node;
}

describe("invalid updates", () => {
  for (const { name, before, after, field } of invalidUpdates) {
    test(`${name}: only a transition rule at ${field} can refuse it`, () => {
      assert.deepEqual(errorsOf(validate(before.kind, before)), []);
      assert.deepEqual(errorsOf(validate(after.kind, after)), [], "valid as a create");
      assert.notDeepEqual(before, after);
      // The rule is either at the field itself or at its parent with fieldPath naming it.
      const parent = field.split(".").slice(0, -1).join(".");
      const leaf = field.split(".").at(-1);
      const here = schemaAt(openAPISchemas[before.kind], field)?.["x-kubernetes-validations"] ?? [];
      const above = schemaAt(openAPISchemas[before.kind], parent)?.["x-kubernetes-validations"] ?? [];
      const rules = [
        ...here.filter((r) => r.fieldPath === undefined),
        ...above.filter((r) => r.fieldPath === `.${leaf}`),
      ];
      assert.ok(
        rules.some((r) => r.rule.includes("oldSelf")),
        `no transition rule names ${field}`,
      );
    });
  }
});

describe("withDefaults", () => {
  test("fills nested defaults the way the API server stores them", () => {
    const gateway = withDefaults(
      "LogicalGateway",
      gatewayFixture("g", (g) => (g.spec = { nodes: { max: 8 } })),
    );
    assert.deepEqual(gateway.spec.nodes, { min: 1, max: 8 });
    assert.deepEqual(gateway.spec.tls, { mode: "Managed" });
    assert.deepEqual(gateway.spec.concurrency, { maxPerNode: 16, autoTune: true });
    assert.deepEqual(gateway.spec.update, { policy: "Auto", drainTimeoutSeconds: 600 });
  });

  test("fills defaults inside list items and optional objects only when present", () => {
    const job = withDefaults(
      "CopyJob",
      copyJobFixture("j", (j) => (j.spec.sink!.csv = { delimiter: ";" })),
    );
    assert.deepEqual(job.spec.sink?.csv, { delimiter: ";", quote: '"', nullValue: "", header: true });
    assert.deepEqual(job.spec.retry, { maxAttempts: 3, backoffSeconds: 30 });
    assert.equal(job.spec.source?.partitioning, undefined);
  });
});
