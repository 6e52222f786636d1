import { agent } from "./agent.ts";
import type { Schema } from "./dialect.ts";
import type { KindDefinition } from "./kind.ts";
import { CLOCK_TIME, DNS_LABEL, HTTP_URL } from "./patterns.ts";
import { secretReference } from "./refs.ts";
import { conditions, observedGeneration } from "./status-fields.ts";
import { named } from "./type-names.ts";

const nodes: Schema = named("NodeBounds", {
  type: "object",
  description: "How many managed nodes the autoscaler may run. External nodes come on top.",
  // Spelled out rather than {}: the API server checks a default against the CEL rules before
  // nested defaults fill it in.
  default: { min: 1, max: 4 },
  properties: {
    min: {
      type: "integer",
      format: "int32",
      description: "Fewest managed nodes, kept even when idle.",
      minimum: 0,
      maximum: 256,
      default: 1,
    },
    max: {
      type: "integer",
      format: "int32",
      description:
        "Most managed nodes the autoscaler runs when jobs wait for capacity. 0 (with min 0) makes a " +
        "gateway of external nodes only.",
      minimum: 0,
      maximum: 256,
      default: 4,
    },
  },
  "x-kubernetes-validations": [
    { rule: "self.min <= self.max", message: "min must not exceed max", fieldPath: ".min" },
  ],
});

const concurrency: Schema = named("ConcurrencySpec", {
  type: "object",
  description: "How many jobs each node runs at once.",
  default: {},
  properties: {
    perNode: {
      type: "integer",
      format: "int32",
      description:
        "Jobs per node. When absent, derived from the agent's CPU and memory and, with autoTune, " +
        "adjusted from what the nodes observe. A node's spec.concurrencyLimit overrides it.",
      minimum: 1,
      maximum: 256,
    },
    maxPerNode: {
      type: "integer",
      format: "int32",
      description: "Ceiling for perNode, whether set, derived or auto-tuned.",
      minimum: 1,
      maximum: 256,
      default: 16,
    },
    autoTune: {
      type: "boolean",
      description:
        "Raise a node's limit while its resources idle but every slot is busy and jobs wait; lower " +
        "it when the node is saturated.",
      default: true,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "!has(self.perNode) || self.perNode <= self.maxPerNode",
      message: "perNode must not exceed maxPerNode",
      fieldPath: ".perNode",
    },
  ],
});

const update: Schema = named("UpdateSpec", {
  type: "object",
  description: "How nodes move to a new agent version: one at a time, drained first.",
  default: {},
  properties: {
    policy: named("UpdatePolicy", {
      type: "string",
      description:
        "Auto rolls managed nodes as soon as agent.version changes (inside the window, if any); " +
        "Manual waits until a node is deleted by hand.",
      enum: ["Auto", "Manual"],
      default: "Auto",
    }),
    window: named("MaintenanceWindow", {
      type: "object",
      description: "When automatic updates may start. Absent means any time.",
      required: ["start", "durationMinutes"],
      properties: {
        start: {
          type: "string",
          description: 'Start of the window, "HH:MM" in UTC.',
          maxLength: 5,
          pattern: CLOCK_TIME,
        },
        durationMinutes: {
          type: "integer",
          format: "int32",
          description: "Length of the window; a node update that starts inside it may finish after it.",
          minimum: 1,
          maximum: 1440,
        },
        days: {
          type: "array",
          description: "Days (UTC) the window opens on. Absent means every day.",
          maxItems: 7,
          items: {
            type: "string",
            description: "Day of the week.",
            enum: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
          },
          "x-kubernetes-list-type": "set",
        },
      },
    }),
    drainTimeoutSeconds: {
      type: "integer",
      format: "int32",
      description:
        "How long a cordoned node may finish its running jobs before it is replaced anyway; " +
        "interrupted jobs resume elsewhere from their checkpoint.",
      minimum: 0,
      maximum: 86400,
      default: 600,
    },
  },
});

const tls: Schema = named("TLSSpec", {
  type: "object",
  description: "Certificates for node-to-node TLS (health, metrics and the peer endpoint).",
  default: { mode: "Managed" },
  properties: {
    mode: named("TLSMode", {
      type: "string",
      description:
        "Managed: the operator runs its own CA and rotates node certificates. CertManager: a " +
        "cert-manager Certificate per node from issuerRef. Disabled: plain HTTP between nodes.",
      enum: ["Managed", "CertManager", "Disabled"],
      default: "Managed",
    }),
    issuerRef: named("IssuerReference", {
      type: "object",
      description: "The cert-manager issuer that signs node certificates; only with mode CertManager.",
      required: ["name"],
      properties: {
        name: {
          type: "string",
          description: "Name of the issuer.",
          minLength: 1,
          maxLength: 253,
        },
        kind: {
          type: "string",
          description: "Issuer (same namespace) or ClusterIssuer.",
          enum: ["Issuer", "ClusterIssuer"],
          default: "Issuer",
        },
        group: {
          type: "string",
          description: "API group of the issuer; another group is an external issuer.",
          maxLength: 253,
          default: "cert-manager.io",
        },
      },
    }),
  },
  "x-kubernetes-validations": [
    {
      rule: "self.mode != 'CertManager' || has(self.issuerRef)",
      message: "issuerRef is required when mode is CertManager",
      fieldPath: ".issuerRef",
      reason: "FieldValueRequired",
    },
    {
      rule: "self.mode == 'CertManager' || !has(self.issuerRef)",
      message: "issuerRef is only used when mode is CertManager",
      fieldPath: ".issuerRef",
      reason: "FieldValueForbidden",
    },
  ],
});

const proxy: Schema = named("ProxySpec", {
  type: "object",
  description: "The outbound HTTP proxy agents use to reach the API server and cloud stores.",
  default: { mode: "None" },
  properties: {
    mode: named("ProxyMode", {
      type: "string",
      description:
        "None: connect directly. System: use HTTPS_PROXY / NO_PROXY from the agent's environment. " +
        "Custom: use url.",
      enum: ["None", "System", "Custom"],
      default: "None",
    }),
    url: {
      type: "string",
      description: "Proxy URL, without credentials; only with mode Custom.",
      maxLength: 2048,
      pattern: HTTP_URL,
    },
    noProxy: {
      type: "array",
      description: "Hosts, domains (.example.com) or CIDRs reached directly; not with mode None.",
      maxItems: 64,
      items: {
        type: "string",
        description: "Host, domain suffix or CIDR.",
        minLength: 1,
        maxLength: 253,
      },
      "x-kubernetes-list-type": "set",
    },
    credentialsSecretRef: secretReference(
      "Secret with keys username and password for the proxy; only with mode Custom.",
    ),
  },
  "x-kubernetes-validations": [
    {
      rule: "self.mode != 'Custom' || has(self.url)",
      message: "url is required when mode is Custom",
      fieldPath: ".url",
      reason: "FieldValueRequired",
    },
    {
      rule: "self.mode == 'Custom' || !has(self.url)",
      message: "url is only used when mode is Custom",
      fieldPath: ".url",
      reason: "FieldValueForbidden",
    },
    {
      rule: "self.mode == 'Custom' || !has(self.credentialsSecretRef)",
      message: "credentialsSecretRef is only used when mode is Custom",
      fieldPath: ".credentialsSecretRef",
      reason: "FieldValueForbidden",
    },
    {
      rule: "self.mode != 'None' || !has(self.noProxy)",
      message: "noProxy is not used when mode is None",
      fieldPath: ".noProxy",
      reason: "FieldValueForbidden",
    },
  ],
});

const spec: Schema = named("LogicalGatewaySpec", {
  type: "object",
  description: "The desired gateway: node pool bounds, concurrency, agent, updates, TLS and proxy.",
  properties: {
    nodes,
    concurrency,
    agent,
    update,
    tls,
    proxy,
    credentialKey: named("CredentialKeySpec", {
      type: "object",
      description:
        "Bring your own credential key pair, to restore a gateway or move it to another cluster so " +
        "that existing encrypted DataStore credentials stay readable. Absent: the operator creates one.",
      required: ["secretRef"],
      properties: {
        secretRef: secretReference(
          "Secret holding the key pair, in the format the operator writes for a new gateway (copy it " +
            "from the old gateway's namespace).",
        ),
      },
    }),
    registration: named("RegistrationSpec", {
      type: "object",
      description: "The registration key external nodes use to join.",
      properties: {
        rotation: {
          type: "string",
          description:
            "Any token; changing it rotates the registration key: a new key is issued and the old one " +
            "stops working. Registered nodes keep their own identity.",
          maxLength: 63,
        },
      },
    }),
  },
});

const status: Schema = named("LogicalGatewayStatus", {
  type: "object",
  description: "The observed gateway, aggregated from its nodes and jobs by the operator.",
  properties: {
    phase: named("GatewayPhase", {
      type: "string",
      description:
        "NeedsRegistration: no node yet. Online: every node Online. Offline: no node Online. " +
        "Limited: anything in between.",
      enum: ["NeedsRegistration", "Online", "Limited", "Offline"],
    }),
    version: {
      type: "string",
      description: "The agent version most nodes run.",
      maxLength: 128,
    },
    nodes: named("NodeCounts", {
      type: "object",
      description: "Node counts.",
      properties: {
        desired: {
          type: "integer",
          format: "int32",
          description:
            "Nodes the gateway should have: managed nodes the autoscaler wants plus external ones.",
          minimum: 0,
        },
        ready: {
          type: "integer",
          format: "int32",
          description: "Nodes that accept jobs: Online or Limited, and not cordoned.",
          minimum: 0,
        },
        online: {
          type: "integer",
          format: "int32",
          description: "Nodes in state Online.",
          minimum: 0,
        },
        limited: {
          type: "integer",
          format: "int32",
          description: "Nodes in state Limited.",
          minimum: 0,
        },
        offline: {
          type: "integer",
          format: "int32",
          description: "Nodes in state Offline.",
          minimum: 0,
        },
        upgrading: {
          type: "integer",
          format: "int32",
          description: "Nodes in state Upgrading.",
          minimum: 0,
        },
        inactive: {
          type: "integer",
          format: "int32",
          description: "Nodes in state Inactive.",
          minimum: 0,
        },
      },
    }),
    dispatcher: {
      type: "string",
      description: "The GatewayNode holding the dispatcher lease.",
      maxLength: 253,
    },
    jobs: named("GatewayJobCounts", {
      type: "object",
      description: "Job capacity and queue.",
      properties: {
        running: {
          type: "integer",
          format: "int32",
          description: "CopyJobs holding a slot on the gateway's nodes (Running, or Assigned and starting).",
          minimum: 0,
        },
        limit: {
          type: "integer",
          format: "int32",
          description: "Sum of the concurrency limits of the nodes that accept jobs.",
          minimum: 0,
        },
        pending: {
          type: "integer",
          format: "int32",
          description:
            "CopyJobs waiting for a slot: Pending, or Assigned to a node whose slots are all busy " +
            "(waiting in its queue, to start the moment one frees).",
          minimum: 0,
        },
      },
    }),
    publicKey: {
      type: "string",
      description:
        "The gateway's public credential key: the base64url of its raw 32-byte X25519 public key. " +
        "Seal DataStore credentials to it (`ferry encrypt`); only the gateway's nodes can open them.",
      maxLength: 16384,
    },
    registrationSecretName: {
      type: "string",
      description: "The Secret holding the registration key for external nodes.",
      maxLength: 253,
    },
    observedGeneration,
    conditions: conditions("Ready and the conditions behind the phase."),
  },
});

export const logicalGateway: KindDefinition = {
  kind: "LogicalGateway",
  plural: "logicalgateways",
  singular: "logicalgateway",
  shortNames: ["lgw"],
  description:
    "A gateway as users see it: a pool of nodes sharing one registration key, one credential key " +
    "and one job queue.",
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Gateway phase." },
    { name: "Ready", type: "integer", jsonPath: ".status.nodes.ready", description: "Nodes accepting jobs." },
    { name: "Desired", type: "integer", jsonPath: ".status.nodes.desired", description: "Nodes wanted." },
    {
      name: "Dispatcher",
      type: "string",
      jsonPath: ".status.dispatcher",
      description: "Node assigning jobs.",
    },
    { name: "Version", type: "string", jsonPath: ".status.version", description: "Majority agent version." },
    { name: "Running", type: "integer", jsonPath: ".status.jobs.running", description: "Jobs running." },
    { name: "Limit", type: "integer", jsonPath: ".status.jobs.limit", description: "Job slots." },
    { name: "Pending", type: "integer", jsonPath: ".status.jobs.pending", description: "Jobs waiting." },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
  ],
  selectableFields: [],
  // Managed node and pod names are "<gateway>-<suffix>" and the name is a label value: a DNS label
  // with room for a 10-character suffix.
  metadataName: {
    type: "string",
    description: "Name of the gateway.",
    maxLength: 52,
    pattern: DNS_LABEL,
  },
  spec,
  status,
};
