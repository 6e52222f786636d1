import assert from "node:assert/strict";
import { test } from "node:test";
import { appendFieldPath, fieldPath } from "../src/field-path.ts";

const object = { spec: { env: [{ name: "A" }], nodeSelector: { "0": "x", "a/b": "y" } } };

test("list indexes in brackets, object keys after dots, as the API server prints them", () => {
  assert.equal(fieldPath("/spec/env/0/name", object), "spec.env[0].name");
  assert.equal(fieldPath("/spec/nodeSelector/0", object), "spec.nodeSelector.0");
  assert.equal(fieldPath("/spec/nodeSelector/a~1b", object), "spec.nodeSelector.a/b");
  assert.equal(fieldPath("", object), "");
});

test("paths into fields that are missing still read as fields", () => {
  assert.equal(fieldPath("/spec/source/dataStoreRef", object), "spec.source.dataStoreRef");
});

test("a rule's fieldPath extends the pointer of the rule's location", () => {
  assert.equal(appendFieldPath("/spec", ".nodes.min"), "/spec/nodes/min");
  assert.equal(appendFieldPath("/spec/nodes", undefined), "/spec/nodes");
});
