/** How the operator runs the agent pods of a gateway's managed nodes (`LogicalGateway.spec.agent`). */
import type { Schema } from "./dialect.ts";
import { ENV_VAR_NAME, IMAGE_REPOSITORY, IMAGE_TAG, QUANTITY } from "./patterns.ts";
import { named } from "./type-names.ts";

function quantity(description: string): Schema {
  return {
    description,
    anyOf: [{ type: "integer" }, { type: "string" }],
    pattern: QUANTITY,
    "x-kubernetes-int-or-string": true,
  };
}

const resourceAmounts = (description: string): Schema =>
  named("ResourceAmounts", {
    type: "object",
    description,
    properties: {
      cpu: quantity('CPU, in cores or millicores ("500m").'),
      memory: quantity('Memory, in bytes or with a binary suffix ("512Mi").'),
    },
  });

const toleration: Schema = named("Toleration", {
  type: "object",
  description: "Lets agent pods schedule onto Kubernetes nodes with a matching taint.",
  properties: {
    key: {
      type: "string",
      description: "Taint key to match; empty with operator Exists matches every taint.",
      maxLength: 316,
    },
    operator: {
      type: "string",
      description: "Exists matches any value; Equal matches `value` exactly.",
      enum: ["Exists", "Equal"],
      default: "Equal",
    },
    value: {
      type: "string",
      description: "Taint value to match when operator is Equal.",
      maxLength: 63,
    },
    effect: {
      type: "string",
      description: "Taint effect to match; empty matches every effect.",
      enum: ["NoSchedule", "PreferNoSchedule", "NoExecute"],
    },
    tolerationSeconds: {
      type: "integer",
      format: "int64",
      description: "With effect NoExecute, how long the pod stays bound after the taint appears.",
      minimum: 0,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: "value must be empty when operator is Exists",
      fieldPath: ".value",
      reason: "FieldValueForbidden",
    },
  ],
});

const envVar: Schema = named("EnvVar", {
  type: "object",
  description: "An environment variable set in the agent container.",
  required: ["name"],
  properties: {
    name: {
      type: "string",
      description: "Variable name.",
      minLength: 1,
      maxLength: 256,
      pattern: ENV_VAR_NAME,
    },
    value: {
      type: "string",
      description: "Variable value; secrets belong in a DataStore's credentials, not here.",
      maxLength: 32768,
    },
  },
});

export const agent: Schema = named("AgentSpec", {
  type: "object",
  description: "How the operator runs the agent pods of managed nodes. External nodes ignore it.",
  properties: {
    image: {
      type: "string",
      description:
        "Agent image repository, without tag. When absent, the image the operator was released with.",
      maxLength: 512,
      pattern: IMAGE_REPOSITORY,
    },
    version: {
      type: "string",
      description:
        "Agent version, used as the image tag. Changing it rolls the managed nodes one at a time " +
        "(see update). When absent, the operator's own version.",
      maxLength: 128,
      pattern: IMAGE_TAG,
    },
    resources: named("AgentResources", {
      type: "object",
      description:
        "CPU and memory for each agent container. The per-node job concurrency is derived from them " +
        "unless concurrency.perNode is set.",
      properties: {
        requests: resourceAmounts("Amounts the scheduler reserves for the agent."),
        limits: resourceAmounts("Amounts the agent may not exceed."),
      },
    }),
    nodeSelector: {
      type: "object",
      description: "Labels a Kubernetes node must carry for agent pods to run on it.",
      maxProperties: 32,
      additionalProperties: {
        type: "string",
        description: "Required value of the label.",
        maxLength: 63,
      },
    },
    tolerations: {
      type: "array",
      description: "Taints the agent pods tolerate.",
      maxItems: 32,
      items: toleration,
      "x-kubernetes-list-type": "atomic",
    },
    env: {
      type: "array",
      description: "Extra environment variables for the agent, such as tuning knobs of a connector.",
      maxItems: 64,
      items: envVar,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    },
  },
});
