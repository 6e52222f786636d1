import assert from "node:assert/strict";
import { test } from "node:test";
import { compileRules, isTransitionRule } from "../src/cel.ts";
import type { Schema } from "../src/schema/dialect.ts";

const bounds: Schema = {
  type: "object",
  properties: { min: { type: "integer" }, max: { type: "integer" }, name: { type: "string" } },
};

test("integers compare as CEL ints and failures carry the rule's message", () => {
  const check = compileRules([{ rule: "self.min <= self.max", message: "min > max" }], bounds);
  assert.deepEqual(check({ min: 1, max: 2 }), []);
  assert.deepEqual(
    check({ min: 3, max: 2 }).map((f) => f.message),
    ["min > max"],
  );
});

test("has() sees only fields the schema declares, as after the API server's pruning", () => {
  const check = compileRules([{ rule: "!has(self.extra)", message: "extra" }], bounds);
  assert.deepEqual(check({ extra: true }), []);
});

test("a rule reading an absent field fails with the evaluation error, not silently", () => {
  const [failure] = compileRules([{ rule: "self.name == 'x'", message: "named x" }], bounds)({});
  assert.match(failure?.message ?? "", /evaluating rule: named x$/);
});

test("the strings extension is available", () => {
  const check = compileRules([{ rule: "self.name.split('/').size() == 2", message: "two parts" }], bounds);
  assert.deepEqual(check({ name: "a/b" }), []);
  assert.equal(check({ name: "a" }).length, 1);
});

test("transition rules are recognised and left to the API server", () => {
  const rule = { rule: "self == oldSelf", message: "immutable" };
  assert.equal(isTransitionRule(rule), true);
  assert.equal(isTransitionRule({ rule: "self.min <= self.max", message: "" }), false);
  assert.deepEqual(compileRules([rule], bounds)({ min: 1 }), []);
});
