import type { Schema, ValidationRule } from "./dialect.ts";
import type { KindDefinition } from "./kind.ts";
import { DNS_SUBDOMAIN, HTTP_URL, SEALED_CREDENTIAL } from "./patterns.ts";
import { localObjectReference } from "./refs.ts";
import { conditions, observedGeneration } from "./status-fields.ts";
import { named } from "./type-names.ts";

const storeTypes = ["SqlServer", "PostgreSQL", "MySQL", "AzureBlob", "FileShare"];
const databases = ["SqlServer", "PostgreSQL", "MySQL"];

/**
 * Which store types use each connection field and which of them need it. The connection is one flat
 * object rather than one sub-object per type so that the common database fields are declared once;
 * the CEL rules generated from this table put back the per-type shape, each reported at the field
 * concerned. A new store type is a new enum value plus rows here.
 */
const connectionFieldUse: { field: string; usedBy: string[]; requiredBy: string[] }[] = [
  { field: "host", usedBy: databases, requiredBy: databases },
  { field: "port", usedBy: databases, requiredBy: [] },
  { field: "database", usedBy: databases, requiredBy: databases },
  { field: "tlsMode", usedBy: databases, requiredBy: [] },
  { field: "accountUrl", usedBy: ["AzureBlob"], requiredBy: [] },
  { field: "container", usedBy: ["AzureBlob"], requiredBy: ["AzureBlob"] },
  { field: "path", usedBy: ["FileShare"], requiredBy: ["FileShare"] },
];

function celList(values: string[]): string {
  return `[${values.map((v) => `'${v}'`).join(", ")}]`;
}

function prose(values: string[]): string {
  return values.length === 1 ? values[0]! : `${values.slice(0, -1).join(", ")} and ${values.at(-1)}`;
}

const connectionRules: ValidationRule[] = connectionFieldUse.flatMap(({ field, usedBy, requiredBy }) => [
  ...(requiredBy.length === 0
    ? []
    : [
        {
          rule: `!(self.type in ${celList(requiredBy)}) || has(self.connection.${field})`,
          message: `connection.${field} is required for type ${prose(requiredBy)}`,
          fieldPath: `.connection.${field}`,
          reason: "FieldValueRequired" as const,
        },
      ]),
  {
    rule: `self.type in ${celList(usedBy)} || !has(self.connection.${field})`,
    message: `connection.${field} is only used by type ${prose(usedBy)}`,
    fieldPath: `.connection.${field}`,
    reason: "FieldValueForbidden" as const,
  },
]);

const connection: Schema = named("DataStoreConnection", {
  type: "object",
  description:
    "Where the store is, without secrets. Databases: host, database and optionally port and tlsMode. " +
    "AzureBlob: container, and accountUrl unless the credentials are a connection string. " +
    "FileShare: path.",
  properties: {
    host: {
      type: "string",
      description: "Database server host name or IP address (SQL Server: host\\instance is accepted).",
      minLength: 1,
      maxLength: 253,
      pattern: "^[^\\s/]+$",
    },
    port: {
      type: "integer",
      format: "int32",
      description: "Database server port. Absent: the engine's default (1433, 5432, 3306).",
      minimum: 1,
      maximum: 65535,
    },
    database: {
      type: "string",
      description: "Database name.",
      minLength: 1,
      maxLength: 128,
    },
    tlsMode: named("DatabaseTLSMode", {
      type: "string",
      description:
        "Disable: no TLS. Require: TLS without verifying the server certificate. VerifyFull: TLS with " +
        "certificate and host name verification. Absent: Require.",
      enum: ["Disable", "Require", "VerifyFull"],
    }),
    accountUrl: {
      type: "string",
      description:
        "Blob service URL, such as https://<account>.blob.core.windows.net or an Azurite endpoint.",
      maxLength: 2048,
      pattern: HTTP_URL,
    },
    container: {
      type: "string",
      description: "Blob container name.",
      minLength: 3,
      maxLength: 63,
      pattern: "^[a-z0-9]+(-[a-z0-9]+)*$",
    },
    path: {
      type: "string",
      description: "Absolute path of a directory the nodes see, such as a mounted NFS or SMB share.",
      maxLength: 1024,
      pattern: "^/",
    },
  },
});

function credentialKey(credential: string): Schema {
  return {
    type: "string",
    description: `Key of the Secret that holds the ${credential}. Absent: "${credential}".`,
    minLength: 1,
    maxLength: 253,
    pattern: "^[-._a-zA-Z0-9]+$",
  };
}

const credentials: Schema = named("DataStoreCredentials", {
  type: "object",
  description:
    "Exactly one of secretRef or encrypted. Databases use username and password; AzureBlob one of " +
    "connectionString, accountKey or sasToken; FileShare usually none (the share is mounted).",
  properties: {
    secretRef: named("CredentialsSecretReference", {
      type: "object",
      description: "A Secret in the same namespace holding the credentials.",
      required: ["name"],
      properties: {
        name: {
          type: "string",
          description: "Name of the Secret.",
          minLength: 1,
          maxLength: 253,
          pattern: DNS_SUBDOMAIN,
        },
        keys: named("CredentialKeys", {
          type: "object",
          description: "Which Secret keys hold which credential, when they are not named after it.",
          properties: {
            username: credentialKey("username"),
            password: credentialKey("password"),
            connectionString: credentialKey("connectionString"),
            accountKey: credentialKey("accountKey"),
            sasToken: credentialKey("sasToken"),
          },
        }),
      },
    }),
    encrypted: {
      type: "string",
      description:
        "The credentials (a JSON object with the fields secretRef.keys names) sealed to the " +
        "gateway's status.publicKey. Only the gateway's nodes can open it, so it is safe in Git.",
      maxLength: 16384,
      pattern: SEALED_CREDENTIAL,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "has(self.secretRef) != has(self.encrypted)",
      message: "set exactly one of secretRef or encrypted",
    },
  ],
});

const spec: Schema = named("DataStoreSpec", {
  type: "object",
  description: "A connection to a source or sink, with its credentials.",
  required: ["gatewayRef", "type", "connection"],
  properties: {
    gatewayRef: localObjectReference("The LogicalGateway whose nodes connect to the store."),
    type: named("DataStoreType", {
      type: "string",
      description: "The kind of store.",
      enum: storeTypes,
    }),
    connection,
    credentials,
  },
  "x-kubernetes-validations": connectionRules,
});

const status: Schema = named("DataStoreStatus", {
  type: "object",
  description: "The result of the last connection test, run by a node of the gateway.",
  properties: {
    lastTestedTime: {
      type: "string",
      format: "date-time",
      description: "When the connection was last tested.",
    },
    testedBy: {
      type: "string",
      description: "The GatewayNode that ran the last test.",
      maxLength: 253,
    },
    observedGeneration,
    conditions: conditions("Reachable: whether the last test connected and authenticated."),
  },
});

export const dataStore: KindDefinition = {
  kind: "DataStore",
  plural: "datastores",
  singular: "datastore",
  shortNames: ["ds"],
  description: "A connection to a source or sink data store, with its credentials.",
  printerColumns: [
    {
      name: "Gateway",
      type: "string",
      jsonPath: ".spec.gatewayRef.name",
      description: "Gateway whose nodes connect.",
    },
    { name: "Type", type: "string", jsonPath: ".spec.type", description: "Store type." },
    {
      name: "Reachable",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Reachable")].status',
      description: "Result of the last connection test.",
    },
    {
      name: "Tested By",
      type: "string",
      jsonPath: ".status.testedBy",
      description: "Node that ran the last test.",
      priority: 1,
    },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
  ],
  selectableFields: [".spec.gatewayRef.name", ".spec.type"],
  spec,
  status,
};
