import type { Schema } from "./dialect.ts";
import { CONDITION_TYPE, REASON } from "./patterns.ts";
import { named } from "./type-names.ts";

/** The shape of metav1.Condition, field for field, so standard tooling (kubectl wait) understands it. */
const condition: Schema = named("Condition", {
  type: "object",
  description: "One aspect of the object's current state.",
  required: ["type", "status", "lastTransitionTime", "reason", "message"],
  properties: {
    type: {
      type: "string",
      description: "Type of the condition in CamelCase, such as Ready.",
      maxLength: 316,
      pattern: CONDITION_TYPE,
    },
    status: named("ConditionStatus", {
      type: "string",
      description: "Whether the condition holds: True, False or Unknown.",
      enum: ["True", "False", "Unknown"],
    }),
    observedGeneration: {
      type: "integer",
      format: "int64",
      description: "The .metadata.generation the condition was computed from.",
      minimum: 0,
    },
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "When the status last changed (not when the condition was last written).",
    },
    reason: {
      type: "string",
      description: "Machine-readable CamelCase reason for the last transition.",
      minLength: 1,
      maxLength: 1024,
      pattern: REASON,
    },
    message: {
      type: "string",
      description: "Human-readable explanation a user can act on; may be empty.",
      maxLength: 32768,
    },
  },
});

export function conditions(description: string): Schema {
  return {
    type: "array",
    description,
    maxItems: 16,
    items: condition,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
  };
}

export const observedGeneration: Schema = {
  type: "integer",
  format: "int64",
  description: "The .metadata.generation this status was computed from.",
  minimum: 0,
};
