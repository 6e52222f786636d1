import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type Condition,
  findCondition,
  isConditionTrue,
  setCondition,
} from "../../src/runtime/conditions.ts";
import { type FieldsV1, statusApplyIsNoop } from "../../src/runtime/managed-fields.ts";

const T0 = "2026-01-01T00:00:00Z";
const NOW = new Date("2026-01-02T03:04:05.678Z");
const NOW_TEXT = "2026-01-02T03:04:05Z";

const ready = (status: Condition["status"], extra: Partial<Condition> = {}): Condition => ({
  type: "Ready",
  status,
  lastTransitionTime: T0,
  reason: "Because",
  message: "m",
  ...extra,
});

test("setCondition keeps lastTransitionTime unless the status flips", () => {
  const degraded: Condition = { ...ready("False"), type: "Degraded" };
  const table: {
    name: string;
    before: Condition[] | undefined;
    next: Parameters<typeof setCondition>[1];
    after: Condition[];
  }[] = [
    {
      name: "no conditions yet: appended, transition now (whole seconds)",
      before: undefined,
      next: { type: "Ready", status: "True", reason: "Up", message: "ok" },
      after: [{ type: "Ready", status: "True", lastTransitionTime: NOW_TEXT, reason: "Up", message: "ok" }],
    },
    {
      name: "same status, new reason and message: time kept",
      before: [ready("True")],
      next: { type: "Ready", status: "True", reason: "StillUp", message: "fine", observedGeneration: 3 },
      after: [ready("True", { reason: "StillUp", message: "fine", observedGeneration: 3 })],
    },
    {
      name: "status flips: time is now",
      before: [ready("True")],
      next: { type: "Ready", status: "False", reason: "PodNotReady", message: "pod x is not ready" },
      after: [
        ready("False", {
          lastTransitionTime: NOW_TEXT,
          reason: "PodNotReady",
          message: "pod x is not ready",
        }),
      ],
    },
    {
      name: "Unknown to True is a flip",
      before: [ready("Unknown")],
      next: { type: "Ready", status: "True", reason: "Because", message: "m" },
      after: [ready("True", { lastTransitionTime: NOW_TEXT })],
    },
    {
      name: "other conditions untouched, order kept",
      before: [degraded, ready("True")],
      next: { type: "Ready", status: "True", reason: "Because", message: "m" },
      after: [degraded, ready("True")],
    },
    {
      name: "a new type is appended after the others",
      before: [ready("True")],
      next: { type: "Degraded", status: "False", reason: "Because", message: "m" },
      after: [ready("True"), { ...degraded, lastTransitionTime: NOW_TEXT }],
    },
  ];
  for (const row of table) {
    const frozen = row.before ? structuredClone(row.before) : undefined;
    assert.deepEqual(setCondition(row.before, row.next, NOW), row.after, row.name);
    assert.deepEqual(row.before, frozen, `${row.name}: the input is not modified`);
  }
  assert.equal(findCondition([degraded, ready("True")], "Ready")?.status, "True");
  assert.equal(isConditionTrue([ready("False")], "Ready"), false);
  assert.equal(isConditionTrue(undefined, "Ready"), false);
});

const mine = (fields: FieldsV1) => ({
  manager: "me",
  operation: "Apply",
  subresource: "status",
  fieldsType: "FieldsV1",
  fieldsV1: { "f:status": fields },
});
const condKey = (type: string) => `k:${JSON.stringify({ type })}`;
const condFields = {
  ".": {},
  "f:type": {},
  "f:status": {},
  "f:reason": {},
  "f:message": {},
  "f:lastTransitionTime": {},
};

test("an apply is a no-op only when every field sent is stored and every field owned is sent", () => {
  const stored = {
    phase: "Online",
    nodes: { ready: 2, online: 2 },
    dispatcher: "gw-0",
    conditions: [ready("True"), { ...ready("True"), type: "CredentialKeyLoaded", reason: "Agent" }],
  };
  const owned: FieldsV1 = {
    "f:phase": {},
    "f:nodes": { ".": {}, "f:ready": {} },
    "f:conditions": { [condKey("Ready")]: condFields },
  };
  const object = (fields: FieldsV1, managers = [mine(fields)]) => ({
    metadata: { managedFields: managers },
    status: stored,
  });
  const table: [name: string, managed: ReturnType<typeof object>, desired: object, noop: boolean][] = [
    [
      "same fields, same values",
      object(owned),
      { phase: "Online", nodes: { ready: 2 }, conditions: [ready("True")] },
      true,
    ],
    [
      "a value differs",
      object(owned),
      { phase: "Limited", nodes: { ready: 2 }, conditions: [ready("True")] },
      false,
    ],
    [
      "a nested value differs",
      object(owned),
      { phase: "Online", nodes: { ready: 1 }, conditions: [ready("True")] },
      false,
    ],
    [
      "an owned field left out (the apply would remove it)",
      object(owned),
      { phase: "Online", conditions: [ready("True")] },
      false,
    ],
    [
      "an owned condition left out",
      object(owned),
      { phase: "Online", nodes: { ready: 2 }, conditions: [] },
      false,
    ],
    [
      "a condition of another manager in the same list does not matter",
      object(owned),
      { phase: "Online", nodes: { ready: 2 }, conditions: [ready("True")] },
      true,
    ],
    [
      "a condition's message differs",
      object(owned),
      { phase: "Online", nodes: { ready: 2 }, conditions: [ready("True", { message: "other" })] },
      false,
    ],
    [
      "a new condition (not owned yet)",
      object(owned),
      {
        phase: "Online",
        nodes: { ready: 2 },
        conditions: [ready("True"), { ...ready("True"), type: "CredentialKeyLoaded", reason: "Agent" }],
      },
      false,
    ],
    [
      "a field stored by another manager, sent with the same value (not owned yet)",
      object(owned),
      { phase: "Online", nodes: { ready: 2 }, dispatcher: "gw-0", conditions: [ready("True")] },
      true,
    ],
    ["never applied by this manager: write", object(owned, []), { phase: "Online" }, false],
    [
      "another manager's entry does not count",
      object(owned, [{ ...mine(owned), manager: "other" }]),
      { phase: "Online", nodes: { ready: 2 }, conditions: [ready("True")] },
      false,
    ],
  ];
  for (const [name, current, desired, noop] of table) {
    assert.equal(statusApplyIsNoop(current, "me", desired), noop, name);
  }
});
