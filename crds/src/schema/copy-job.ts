import type { Schema } from "./dialect.ts";
import type { KindDefinition } from "./kind.ts";
import { REASON, RELATIVE_PATH, SQL_IDENTIFIER, SQL_TABLE } from "./patterns.ts";
import { localObjectReference } from "./refs.ts";
import { conditions, observedGeneration } from "./status-fields.ts";
import { named } from "./type-names.ts";

const sqlColumn = (description: string): Schema => ({
  type: "string",
  description,
  minLength: 1,
  maxLength: 128,
  pattern: SQL_IDENTIFIER,
});

const partitioning: Schema = named("PartitioningSpec", {
  type: "object",
  description:
    "How the source is split into partitions that are read in parallel and committed one by one, so " +
    "a retry skips what is already copied.",
  required: ["mode"],
  properties: {
    mode: named("PartitioningMode", {
      type: "string",
      description:
        "None: one partition. Column: count equal ranges of column between its minimum and maximum. " +
        "Auto: the connector picks the key and the ranges.",
      enum: ["None", "Column", "Auto"],
    }),
    column: sqlColumn("The numeric or date column to split on; only with mode Column."),
    count: {
      type: "integer",
      format: "int32",
      description: "Column: the number of partitions (absent: 8). Auto: the most partitions to make.",
      minimum: 1,
      maximum: 1024,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "self.mode != 'Column' || has(self.column)",
      message: "column is required when mode is Column",
      fieldPath: ".column",
      reason: "FieldValueRequired",
    },
    {
      rule: "self.mode == 'Column' || !has(self.column)",
      message: "column is only used when mode is Column",
      fieldPath: ".column",
      reason: "FieldValueForbidden",
    },
    {
      rule: "self.mode != 'None' || !has(self.count)",
      message: "count is not used when mode is None",
      fieldPath: ".count",
      reason: "FieldValueForbidden",
    },
  ],
});

const incremental: Schema = named("IncrementalSpec", {
  type: "object",
  description:
    "Copy only rows whose watermark column lies in (after, upTo]. Chain runs by passing one job's " +
    "status.output.watermark as the next job's after.",
  required: ["watermarkColumn"],
  properties: {
    watermarkColumn: sqlColumn("A column that grows with every change, such as updated_at or an identity."),
    after: {
      type: "string",
      description: "Exclusive lower bound, in the column's literal syntax. Absent: from the first row.",
      maxLength: 256,
    },
    upTo: {
      type: "string",
      description: "Inclusive upper bound. Absent: the column's maximum when the job starts.",
      maxLength: 256,
    },
  },
});

const source: Schema = named("CopySource", {
  type: "object",
  description: "What to read: a table or a query of a database DataStore.",
  required: ["dataStoreRef"],
  properties: {
    dataStoreRef: localObjectReference("The DataStore to read from."),
    table: {
      type: "string",
      description: "Table to copy whole, optionally qualified: orders, public.orders, shop.dbo.orders.",
      maxLength: 386,
      pattern: SQL_TABLE,
    },
    query: {
      type: "string",
      description: "A SELECT statement whose result is copied; use it for joins, filters or quoted names.",
      minLength: 1,
      maxLength: 32768,
    },
    partitioning,
    incremental,
  },
  "x-kubernetes-validations": [
    { rule: "has(self.table) != has(self.query)", message: "set exactly one of table or query" },
  ],
});

const csv: Schema = named("CsvOptions", {
  type: "object",
  description: "CSV dialect; only with format Csv. Absent: comma-separated, double quotes, header row.",
  properties: {
    delimiter: {
      type: "string",
      description: "Field separator, one character.",
      minLength: 1,
      maxLength: 1,
      default: ",",
    },
    quote: {
      type: "string",
      description: "Quote character, one character.",
      minLength: 1,
      maxLength: 1,
      default: '"',
    },
    nullValue: {
      type: "string",
      description: "Text written for NULL.",
      maxLength: 16,
      default: "",
    },
    header: {
      type: "boolean",
      description: "Write the column names as the first row of every file.",
      default: true,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "self.delimiter != self.quote",
      message: "quote must differ from delimiter",
      fieldPath: ".quote",
    },
  ],
});

const sink: Schema = named("CopySink", {
  type: "object",
  description: "Where and how to write: files under a path of a blob or file-share DataStore.",
  required: ["dataStoreRef", "path", "format"],
  properties: {
    dataStoreRef: localObjectReference("The DataStore to write to."),
    path: {
      type: "string",
      description:
        "Folder, relative to the container or share, that receives one file per partition and the " +
        "_SUCCESS manifest.",
      maxLength: 1024,
      pattern: RELATIVE_PATH,
    },
    format: named("FileFormat", {
      type: "string",
      description: "File format.",
      enum: ["Csv", "JsonLines", "Parquet"],
    }),
    compression: named("Compression", {
      type: "string",
      description: "Compression of each file (Parquet: of each column chunk). Snappy needs Parquet.",
      enum: ["None", "Gzip", "Snappy"],
      default: "None",
    }),
    writeMode: named("WriteMode", {
      type: "string",
      description:
        "FailIfExists: fail when path already holds files. Overwrite: replace them once the new " +
        "files are committed.",
      enum: ["Overwrite", "FailIfExists"],
      default: "FailIfExists",
    }),
    csv,
  },
  "x-kubernetes-validations": [
    {
      rule: "self.compression != 'Snappy' || self.format == 'Parquet'",
      message: "Snappy compression requires format Parquet",
      fieldPath: ".compression",
    },
    {
      rule: "self.format == 'Csv' || !has(self.csv)",
      message: "csv is only used with format Csv",
      fieldPath: ".csv",
      reason: "FieldValueForbidden",
    },
  ],
});

const retry: Schema = named("RetryPolicy", {
  type: "object",
  description: "Retries after transient failures and lost nodes; committed partitions are not copied again.",
  default: {},
  properties: {
    maxAttempts: {
      type: "integer",
      format: "int32",
      description: "Attempts in total, the first included; an attempt lost with its node counts.",
      minimum: 1,
      maximum: 10,
      default: 3,
    },
    backoffSeconds: {
      type: "integer",
      format: "int32",
      description: "Delay before the second attempt, doubled for each later one (at most one hour).",
      minimum: 0,
      maximum: 3600,
      default: 30,
    },
  },
});

const procedureParameter: Schema = named("ProcedureParameter", {
  type: "object",
  description: "One parameter of the procedure, by name.",
  required: ["name", "type"],
  properties: {
    name: sqlColumn("The parameter's name."),
    type: named("ProcedureParameterType", {
      type: "string",
      description: "The SQL type the value is sent as.",
      enum: [
        "String",
        "Int",
        "BigInt",
        "Decimal",
        "Float",
        "Boolean",
        "Date",
        "Timestamp",
        "TimestampTz",
        "Json",
        "Binary",
      ],
    }),
    value: {
      type: "string",
      description:
        "The value as text in the type's literal syntax (numbers as digits, Boolean true or false, " +
        "Binary as base64). Absent: SQL NULL. Not for secrets: the job is readable by its users.",
      maxLength: 4096,
    },
    direction: {
      type: "string",
      description: "In (the default), Out or InOut; Out and InOut values are recorded in the status.",
      enum: ["In", "Out", "InOut"],
      default: "In",
    },
  },
});

const storedProcedure: Schema = named("StoredProcedureSpec", {
  type: "object",
  description:
    "The stored procedure activity: run a named procedure with typed parameters on a SQL DataStore " +
    "through the gateway, with the dispatch, status and retries of a copy. Instead of source and sink.",
  required: ["dataStoreRef", "procedure"],
  properties: {
    dataStoreRef: localObjectReference("The SQL DataStore to run the procedure on."),
    procedure: {
      type: "string",
      description: "The procedure (on PostgreSQL, also a function), optionally schema-qualified.",
      minLength: 1,
      maxLength: 256,
      pattern: SQL_TABLE,
    },
    parameters: {
      type: "array",
      description: "The parameters, in the procedure's order.",
      maxItems: 64,
      items: procedureParameter,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    },
    maxRows: {
      type: "integer",
      format: "int32",
      description: "Rows of each result set recorded in the status.",
      minimum: 0,
      maximum: 100,
      default: 20,
    },
  },
});

const spec: Schema = named("CopyJobSpec", {
  type: "object",
  description:
    "One run of copying data from a source DataStore to a sink DataStore (or, with storedProcedure, " +
    "of a stored procedure). Immutable.",
  required: ["gatewayRef"],
  properties: {
    gatewayRef: localObjectReference("The LogicalGateway whose nodes run the job."),
    source,
    sink,
    storedProcedure,
    parallelism: {
      type: "integer",
      format: "int32",
      description:
        "Partitions copied at the same time, on the job's node. The job takes one of the node's " +
        "concurrency slots whatever its parallelism.",
      minimum: 1,
      maximum: 64,
      default: 4,
    },
    priority: {
      type: "integer",
      format: "int32",
      description: "Pending jobs with a higher priority are assigned first; equal ones oldest first.",
      minimum: -1000,
      maximum: 1000,
      default: 0,
    },
    retry,
    timeoutSeconds: {
      type: "integer",
      format: "int32",
      description: "Fail an attempt that runs longer than this. Absent: no limit.",
      minimum: 1,
      maximum: 604800,
    },
    ttlSecondsAfterFinished: {
      type: "integer",
      format: "int32",
      description: "Delete the job this long after it succeeded, failed or was cancelled. Absent: keep it.",
      minimum: 0,
      maximum: 31536000,
    },
  },
  "x-kubernetes-validations": [
    { rule: "self == oldSelf", message: "spec is immutable; create a new CopyJob to run again" },
    {
      rule: "has(self.storedProcedure) || has(self.source)",
      message: "source is required (or storedProcedure, to run a stored procedure instead of a copy)",
      fieldPath: ".source",
      reason: "FieldValueRequired",
    },
    {
      rule: "has(self.storedProcedure) || has(self.sink)",
      message: "sink is required (or storedProcedure, to run a stored procedure instead of a copy)",
      fieldPath: ".sink",
      reason: "FieldValueRequired",
    },
    {
      rule: "!has(self.storedProcedure) || (!has(self.source) && !has(self.sink))",
      message: "a job either copies (source and sink) or runs a storedProcedure, not both",
      fieldPath: ".storedProcedure",
      reason: "FieldValueForbidden",
    },
  ],
});

const count64 = (description: string): Schema => ({
  type: "integer",
  format: "int64",
  description,
  minimum: 0,
});

const attempt: Schema = named("CopyAttempt", {
  type: "object",
  description: "One attempt at running the job.",
  required: ["attempt"],
  properties: {
    attempt: {
      type: "integer",
      format: "int32",
      description: "Attempt number, from 1.",
      minimum: 1,
      maximum: 10,
    },
    node: {
      type: "string",
      description: "The GatewayNode that ran the attempt.",
      maxLength: 253,
    },
    result: named("AttemptResult", {
      type: "string",
      description: "Running until the attempt ends.",
      enum: ["Running", "Succeeded", "Failed", "Cancelled"],
    }),
    reason: {
      type: "string",
      description: "CamelCase reason for the result, such as NodeLost or Timeout.",
      maxLength: 1024,
      pattern: REASON,
    },
    message: {
      type: "string",
      description: "What went wrong, for a human.",
      maxLength: 4096,
    },
    startTime: {
      type: "string",
      format: "date-time",
      description: "When the node started the attempt.",
    },
    completionTime: {
      type: "string",
      format: "date-time",
      description: "When the attempt ended.",
    },
  },
});

const committedPartition: Schema = named("CommittedPartition", {
  type: "object",
  description: "A partition whose file is committed at the sink.",
  required: ["id"],
  properties: {
    id: {
      type: "string",
      description: "Partition identifier, stable across attempts.",
      minLength: 1,
      maxLength: 64,
    },
    rows: count64("Rows in the partition."),
    bytes: count64("Bytes of the committed file."),
    checksum: {
      type: "string",
      description: 'Checksum of the file, "<algorithm>:<hex>".',
      maxLength: 160,
    },
    uri: {
      type: "string",
      description: "Where the file is.",
      maxLength: 2048,
    },
  },
});

const status: Schema = named("CopyJobStatus", {
  type: "object",
  description:
    "The job's progress, written by the dispatcher (assignment) and the node running it (everything " +
    "else).",
  properties: {
    phase: named("CopyJobPhase", {
      type: "string",
      description:
        "Pending: waiting for a node. Assigned: a node was chosen. Running: copying. Succeeded, " +
        "Failed and Cancelled are final.",
      enum: ["Pending", "Assigned", "Running", "Succeeded", "Failed", "Cancelled"],
    }),
    node: {
      type: "string",
      description: "The GatewayNode the current attempt is assigned to.",
      maxLength: 253,
    },
    attempt: {
      type: "integer",
      format: "int32",
      description: "The current attempt number, from 1; 0 before the first assignment.",
      minimum: 0,
      maximum: 10,
    },
    attempts: {
      type: "array",
      description: "Every attempt so far, oldest first.",
      maxItems: 10,
      items: attempt,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["attempt"],
    },
    startTime: {
      type: "string",
      format: "date-time",
      description: "When the first attempt started.",
    },
    completionTime: {
      type: "string",
      format: "date-time",
      description: "When the job reached a final phase.",
    },
    progress: named("CopyProgress", {
      type: "object",
      description: "Progress of the current attempt, committed partitions included.",
      properties: {
        rows: count64("Rows copied."),
        bytes: count64("Bytes written."),
        partitionsDone: {
          type: "integer",
          format: "int32",
          description: "Partitions committed.",
          minimum: 0,
        },
        partitionsTotal: {
          type: "integer",
          format: "int32",
          description: "Partitions in the job.",
          minimum: 0,
        },
        rowsPerSecond: count64("Recent read rate in rows per second."),
        bytesPerSecond: count64("Recent write rate in bytes per second."),
        percent: {
          type: "integer",
          format: "int32",
          description: "Estimated completion, 0 to 100.",
          minimum: 0,
          maximum: 100,
        },
      },
    }),
    checkpoint: named("Checkpoint", {
      type: "object",
      description: "What a retry can skip.",
      properties: {
        committedPartitions: {
          type: "array",
          description: "Partitions committed at the sink.",
          maxItems: 1024,
          items: committedPartition,
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["id"],
        },
      },
    }),
    output: named("CopyOutput", {
      type: "object",
      description: "What a succeeded job wrote.",
      properties: {
        uris: {
          type: "array",
          description: "The files written, one per partition.",
          maxItems: 1024,
          items: {
            type: "string",
            description: "File URI.",
            maxLength: 2048,
          },
          "x-kubernetes-list-type": "atomic",
        },
        rows: count64("Rows written."),
        bytes: count64("Bytes written."),
        checksum: {
          type: "string",
          description: 'Checksum over the part checksums in order, "<algorithm>:<hex>".',
          maxLength: 160,
        },
        manifestUri: {
          type: "string",
          description: "The _SUCCESS manifest listing parts, row counts and checksums.",
          maxLength: 2048,
        },
        watermark: {
          type: "string",
          description: "With incremental, the highest watermark copied: the next run's after.",
          maxLength: 256,
        },
      },
    }),
    procedure: named("ProcedureOutcome", {
      type: "object",
      description: "What a stored procedure returned (storedProcedure jobs).",
      properties: {
        outputs: {
          type: "object",
          description: "Out and InOut parameters by name, as text (absent value: SQL NULL).",
          maxProperties: 64,
          additionalProperties: { type: "string", description: "The value as text.", maxLength: 4096 },
        },
        rowsAffected: count64("Rows the procedure changed, when the server reports it."),
        returnValue: {
          type: "integer",
          format: "int64",
          description: "The procedure's return value (SQL Server).",
        },
        resultSets: {
          type: "array",
          description: "Result sets, each cut at spec.storedProcedure.maxRows rows.",
          maxItems: 8,
          "x-kubernetes-list-type": "atomic",
          items: named("ProcedureResultSet", {
            type: "object",
            description: "One result set.",
            properties: {
              columns: {
                type: "array",
                description: "Column names.",
                maxItems: 64,
                "x-kubernetes-list-type": "atomic",
                items: { type: "string", description: "Column name.", maxLength: 128 },
              },
              rows: {
                type: "array",
                description: "Rows as text, one string per column (null for SQL NULL).",
                maxItems: 100,
                "x-kubernetes-list-type": "atomic",
                items: {
                  type: "array",
                  description: "One row.",
                  maxItems: 64,
                  "x-kubernetes-list-type": "atomic",
                  items: { type: "string", description: "A value as text.", maxLength: 1024, nullable: true },
                },
              },
              truncated: { type: "boolean", description: "More rows were returned than recorded." },
            },
          }),
        },
      },
    }),
    observedGeneration,
    conditions: conditions("Ready and, on failure, a condition with a reason the user can act on."),
  },
});

export const copyJob: KindDefinition = {
  kind: "CopyJob",
  plural: "copyjobs",
  singular: "copyjob",
  shortNames: ["cj"],
  description: "One run of copying data from a source DataStore to a sink DataStore.",
  printerColumns: [
    {
      name: "Gateway",
      type: "string",
      jsonPath: ".spec.gatewayRef.name",
      description: "Gateway running the job.",
    },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Job phase." },
    { name: "Node", type: "string", jsonPath: ".status.node", description: "Node running the job." },
    {
      name: "Progress",
      type: "integer",
      jsonPath: ".status.progress.percent",
      description: "Percent done.",
    },
    { name: "Rows", type: "integer", jsonPath: ".status.progress.rows", description: "Rows copied." },
    {
      name: "Throughput",
      type: "integer",
      jsonPath: ".status.progress.rowsPerSecond",
      description: "Rows per second.",
    },
    {
      name: "Attempt",
      type: "integer",
      jsonPath: ".status.attempt",
      description: "Current attempt.",
      priority: 1,
    },
    {
      name: "Source",
      type: "string",
      jsonPath: ".spec.source.dataStoreRef.name",
      description: "Source DataStore.",
      priority: 1,
    },
    {
      name: "Sink",
      type: "string",
      jsonPath: ".spec.sink.dataStoreRef.name",
      description: "Sink DataStore.",
      priority: 1,
    },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
  ],
  selectableFields: [".spec.gatewayRef.name", ".status.phase", ".status.node"],
  spec,
  status,
};
