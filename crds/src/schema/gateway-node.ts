import type { Schema } from "./dialect.ts";
import type { KindDefinition } from "./kind.ts";
import { DNS_LABEL } from "./patterns.ts";
import { localObjectReference } from "./refs.ts";
import { conditions, observedGeneration } from "./status-fields.ts";
import { named } from "./type-names.ts";

const spec: Schema = named("GatewayNodeSpec", {
  type: "object",
  description: "One agent process of a gateway, either a pod the operator runs or an external process.",
  required: ["gatewayRef"],
  properties: {
    gatewayRef: localObjectReference("The LogicalGateway this node belongs to; it cannot change.", [
      {
        rule: "self == oldSelf",
        message: "gatewayRef is immutable; register the agent again to join another gateway",
      },
    ]),
    managed: {
      type: "boolean",
      description:
        "True when the operator created the node and runs it as a pod; false for an external agent " +
        "(for example on a VM) that joined with the registration key. It cannot change.",
      default: false,
    },
    concurrencyLimit: {
      type: "integer",
      format: "int32",
      description: "Most jobs this node runs at once, overriding the gateway's concurrency for this node.",
      minimum: 1,
      maximum: 256,
    },
    cordoned: {
      type: "boolean",
      description:
        "No new jobs are assigned while true; running jobs finish. Set by the update controller " +
        "before replacing a node, or by hand for maintenance.",
      default: false,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "self.managed == oldSelf.managed",
      message: "managed is immutable; a node is either run by the operator or external for its lifetime",
      fieldPath: ".managed",
    },
  ],
});

const status: Schema = named("GatewayNodeStatus", {
  type: "object",
  description: "The observed node, written by its agent (heartbeat data) and the operator (state).",
  properties: {
    state: named("NodeState", {
      type: "string",
      description:
        "Online: heartbeating and healthy. Offline: heartbeat lease expired. Upgrading: being " +
        "replaced by the update controller. Limited: connected but degraded (version differs from " +
        "the gateway's majority, credential key not loaded, or peers unreachable). Inactive: " +
        "configuration differs from the majority or the other nodes cannot be reached. The " +
        "conditions explain any state other than Online.",
      enum: ["Online", "Offline", "Upgrading", "Limited", "Inactive"],
    }),
    role: named("NodeRole", {
      type: "string",
      description:
        "Dispatcher: holds the gateway's dispatcher lease (and also runs jobs). Worker: runs jobs.",
      enum: ["Dispatcher", "Worker"],
    }),
    version: {
      type: "string",
      description: "Agent version the node runs.",
      maxLength: 128,
    },
    lastHeartbeatTime: {
      type: "string",
      format: "date-time",
      description:
        "When the node last reported here. Liveness itself is its Lease, renewed more often than this.",
    },
    resources: named("NodeResourceUsage", {
      type: "object",
      description: "What the node observed at its last report.",
      properties: {
        cpuPercent: {
          type: "number",
          format: "double",
          description: "CPU in use, as a percentage of what the node may use (its limit or cores).",
          minimum: 0,
        },
        availableMemoryBytes: {
          type: "integer",
          format: "int64",
          description: "Memory still available to the node.",
          minimum: 0,
        },
        networkInBytesPerSecond: {
          type: "integer",
          format: "int64",
          description: "Bytes received per second.",
          minimum: 0,
        },
        networkOutBytesPerSecond: {
          type: "integer",
          format: "int64",
          description: "Bytes sent per second.",
          minimum: 0,
        },
      },
    }),
    jobs: named("NodeJobCounts", {
      type: "object",
      description: "Jobs on this node.",
      properties: {
        running: {
          type: "integer",
          format: "int32",
          description: "CopyJobs running on the node.",
          minimum: 0,
        },
        limit: {
          type: "integer",
          format: "int32",
          description: "The node's current concurrency limit.",
          minimum: 0,
        },
      },
    }),
    podName: {
      type: "string",
      description: "The pod running the agent, for a managed node.",
      maxLength: 253,
    },
    hostName: {
      type: "string",
      description: "Host name the agent reports, for an external node.",
      maxLength: 253,
    },
    observedGeneration,
    conditions: conditions("Ready and the conditions explaining the state."),
  },
});

export const gatewayNode: KindDefinition = {
  kind: "GatewayNode",
  plural: "gatewaynodes",
  singular: "gatewaynode",
  shortNames: ["gwn"],
  description: "One running agent process that belongs to a LogicalGateway.",
  printerColumns: [
    {
      name: "Gateway",
      type: "string",
      jsonPath: ".spec.gatewayRef.name",
      description: "Gateway the node belongs to.",
    },
    { name: "State", type: "string", jsonPath: ".status.state", description: "Node state." },
    { name: "Role", type: "string", jsonPath: ".status.role", description: "Dispatcher or Worker." },
    { name: "Version", type: "string", jsonPath: ".status.version", description: "Agent version." },
    { name: "Running", type: "integer", jsonPath: ".status.jobs.running", description: "Jobs running." },
    { name: "Limit", type: "integer", jsonPath: ".status.jobs.limit", description: "Job slots." },
    {
      name: "Cordoned",
      type: "boolean",
      jsonPath: ".spec.cordoned",
      description: "Takes no new jobs.",
      priority: 1,
    },
    { name: "Pod", type: "string", jsonPath: ".status.podName", description: "Agent pod.", priority: 1 },
    { name: "Host", type: "string", jsonPath: ".status.hostName", description: "Agent host.", priority: 1 },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
  ],
  selectableFields: [".spec.gatewayRef.name"],
  // The dispatcher labels a job with the name of the node it assigns it to.
  metadataName: {
    type: "string",
    description: "Name of the node.",
    maxLength: 63,
    pattern: DNS_LABEL,
  },
  spec,
  status,
};
