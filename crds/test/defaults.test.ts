import assert from "node:assert/strict";
import { test } from "node:test";
import { applyDefaults } from "../src/defaults.ts";
import type { Schema } from "../src/schema/dialect.ts";

const schema: Schema = {
  type: "object",
  properties: {
    policy: { type: "string", default: "Auto" },
    retry: {
      type: "object",
      default: {},
      properties: { attempts: { type: "integer", default: 3 }, backoff: { type: "integer" } },
    },
    items: {
      type: "array",
      items: { type: "object", properties: { op: { type: "string", default: "Equal" } } },
    },
    labels: { type: "object", additionalProperties: { type: "string" } },
  },
};

test("an absent property gets its default, then the defaults inside it", () => {
  const value = {};
  applyDefaults(value, schema);
  assert.deepEqual(value, { policy: "Auto", retry: { attempts: 3 } });
});

test("null counts as absent; a null without default is dropped", () => {
  const value = { policy: null, retry: { attempts: 5, backoff: null } };
  applyDefaults(value, schema);
  assert.deepEqual(value, { policy: "Auto", retry: { attempts: 5 } });
});

test("objects in lists are defaulted, and values that are set stay", () => {
  const value = { policy: "Manual", items: [{}, { op: "Exists" }], labels: { a: "b" } };
  applyDefaults(value, schema);
  assert.deepEqual(value, {
    policy: "Manual",
    retry: { attempts: 3 },
    items: [{ op: "Equal" }, { op: "Exists" }],
    labels: { a: "b" },
  });
});

test("a default is copied, never shared between objects", () => {
  const a = {};
  const b = {};
  applyDefaults(a, schema);
  applyDefaults(b, schema);
  (a as { retry: { attempts: number } }).retry.attempts = 9;
  assert.deepEqual((b as { retry: unknown }).retry, { attempts: 3 });
});
