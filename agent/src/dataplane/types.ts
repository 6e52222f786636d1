/**
 * The shapes every connector, format and the copy runner share. A source turns a table or query
 * (or files) into partitions and each partition into a stream of row batches; an encoder turns
 * rows into bytes; a sink stores those bytes as one part file per partition, committed atomically.
 * Everything is pulled, never pushed: a partition reads its next batch only when the sink has taken
 * the previous bytes, so memory stays flat whatever the table size.
 */
import type {
  CopySink,
  CsvOptions,
  DataStoreConnection,
  DataStoreType,
  IncrementalSpec,
  PartitioningSpec,
  ProcedureParameterType,
} from "@ferry/crds";

export type { CopySink, CsvOptions, DataStoreConnection, DataStoreType, IncrementalSpec, PartitioningSpec };

/**
 * The type of a column as Ferry carries it, whatever the store called it. Each kind has one
 * in-memory value representation (see Value) and one canonical text (values.ts), which CSV writes,
 * JSON Lines writes for non-JSON-native kinds, and the content checksum hashes.
 */
export type ColumnKind =
  | "boolean"
  | "int32"
  | "int64"
  | "float32"
  | "float64"
  | "decimal"
  | "string"
  | "binary"
  | "date"
  | "time"
  | "timestamp"
  | "timestamptz"
  | "json"
  | "uuid";

export interface Column {
  name: string;
  kind: ColumnKind;
  nullable: boolean;
  /** Decimal precision and scale, when the store declares them. */
  precision?: number;
  scale?: number;
  /** The store's own type name, for the manifest and messages. */
  sourceType: string;
}

export type Schema = Column[];

/**
 * One value. By kind: boolean → boolean; int32, float32, float64 → number; int64 → bigint (exact
 * beyond 2^53); decimal → string (exact, as the store prints it); binary → Uint8Array; string,
 * json, uuid → string; date "YYYY-MM-DD", time "HH:MM:SS[.f]", timestamp "YYYY-MM-DDTHH:MM:SS[.f]",
 * timestamptz "YYYY-MM-DDTHH:MM:SS[.f]Z" (UTC) — the fraction without trailing zeros, as precise as
 * the store keeps it. Temporal values stay text so nothing is rounded through a JS Date.
 */
export type Value = null | boolean | number | bigint | string | Uint8Array;
export type Row = Value[];

/** Plain credentials, decrypted by the agent; never logged, never put in a message. */
export interface Credentials {
  username?: string;
  password?: string;
  connectionString?: string;
  accountKey?: string;
  sasToken?: string;
}

/** A DataStore as the data plane needs it: its type, where it is, and its resolved credentials. */
export interface StoreConfig {
  type: DataStoreType;
  connection: DataStoreConnection;
  credentials?: Credentials;
}

/** A pino-compatible logger (the agent passes a child carrying {job, node, attempt}). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The CSV dialect, with the CRD's defaults applied. */
export interface CsvDialect {
  delimiter: string;
  quote: string;
  nullValue: string;
  header: boolean;
}

/** What to read, from CopyJob.spec.source. */
export interface ReadRequest {
  table?: string;
  query?: string;
  partitioning?: PartitioningSpec;
  incremental?: IncrementalSpec;
}

/**
 * A half-open key range [lower, upper) of one partition, in bound units: integers for numeric keys,
 * days since 1970-01-01 for dates, seconds since the epoch (UTC) for timestamps. Bounds are chosen
 * by Ferry (always integers), so they print exactly in any SQL dialect; an absent bound is open.
 */
export interface KeyRange {
  lower?: string;
  upper?: string;
  /** Rows whose key is NULL belong to this partition (the first one). */
  nulls: boolean;
}

export type KeyUnit = "integer" | "day" | "second";

export interface PartitionSpec {
  /** Stable identifier: the same plan gives the same ids on any node. */
  id: string;
  index: number;
  range?: KeyRange;
  /** File sources: the file (relative to the store's root) that is this partition. */
  file?: string;
  estimatedRows?: number;
  estimatedBytes?: number;
}

/**
 * How a job's source is split, fixed once per job: the first attempt stores it in the sink
 * (copy.ts) and every retry reads it back, so all attempts copy the same partitions even when the
 * table changed in between.
 */
export interface PartitionPlan {
  version: 1;
  schema: Schema;
  /** What the connector reads, resolved once (SQL: the FROM item, the table name as found). */
  relation?: string;
  /** The key column and the unit its bounds are in, when partitioned by key. */
  key?: { column: string; unit: KeyUnit };
  /** Incremental copy: the watermark bounds, with upTo resolved when the plan was made. */
  watermark?: { column: string; kind: ColumnKind; after?: string; upTo?: string; empty?: boolean };
  partitions: PartitionSpec[];
}

export interface ReadContext {
  signal: AbortSignal;
  /** The sink's format and CSV dialect, so a source can offer bytes that need no re-encoding. */
  format: CopySink["format"];
  csv: CsvDialect;
  /** Rows per batch the source should aim for. */
  batchRows: number;
}

/**
 * A partition's data: row batches, or (fast path) CSV bytes already in the requested dialect:
 * canonical field text, records ended by "\n", no header.
 */
export type PartitionData =
  | { kind: "rows"; batches: AsyncIterable<Row[]> }
  | { kind: "csv"; bytes: AsyncIterable<Uint8Array> };

export interface PlanContext {
  signal: AbortSignal;
  log: Logger;
  /** Auto partitioning: the rows and bytes to aim for per partition. */
  targetRowsPerPartition?: number;
  targetBytesPerPartition?: number;
}

export interface Source {
  plan(request: ReadRequest, context: PlanContext): Promise<PartitionPlan>;
  read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData>;
  close(): Promise<void>;
}

export interface SinkEntry {
  /** Relative to the job's folder, "/"-separated. */
  name: string;
  size: number;
  etag?: string;
}

/**
 * A folder of a blob container or file share, as storage primitives; naming, manifests and
 * exactly-once rules live in copy.ts, once for every sink.
 */
export interface Sink {
  uri(name: string): string;
  /** Every file under the folder, recursively. */
  list(): Promise<SinkEntry[]>;
  /** A small file and its version tag, or undefined when absent. */
  read(name: string): Promise<{ data: Buffer; etag: string } | undefined>;
  /** Writes a small file only if it does not exist; false when it already does. */
  create(name: string, data: Buffer): Promise<boolean>;
  /** Replaces a small file only if it still has version `etag`; false when it changed. */
  replace(name: string, data: Buffer, etag: string): Promise<boolean>;
  openPart(name: string, contentType: string): Promise<PartWriter>;
  /** The metadata committed with a part, or undefined when the part does not exist. */
  partMetadata(name: string): Promise<Record<string, string> | undefined>;
  delete(name: string): Promise<void>;
  close(): Promise<void>;
}

export interface PartWriter {
  /** Resolves when the bytes are buffered within the writer's memory bound (back-pressure). */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes the part visible whole, with its metadata, or fails leaving nothing visible. Fails if a
   * file of that name exists: a part is never overwritten.
   */
  commit(metadata: Record<string, string>): Promise<void>;
  /** Drops whatever was written; never throws. */
  abort(): Promise<void>;
}

/** A format encoder: rows in, bytes out, in order. */
export interface Encoder {
  /** Bytes that start every file (the CSV header), or empty. */
  start(): Uint8Array[];
  encode(rows: Row[]): Uint8Array[];
  finish(): Uint8Array[];
}

export interface SinkOptions {
  /** Blob block size in bytes (default 4 MiB). */
  blockSize?: number;
  /** Blocks of one part uploading at once (default 2). */
  blockConcurrency?: number;
  /** Block buffers all parts of the copy share, filling or uploading (default 16): its memory bound. */
  blockBudget?: number;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A stored procedure call (stored-procedure.ts). */
export interface ProcedureParameter {
  name: string;
  /** The SQL type the value is sent as. */
  type: ProcedureParameterType;
  /** Absent or null: SQL NULL. Text in the type's literal syntax; numbers and booleans as JSON. */
  value?: string | number | boolean | null;
  /** In (default), Out or InOut. */
  direction?: "In" | "Out" | "InOut";
}

/** The SQL types a parameter is sent as: the API's, so a job's parameters pass through as they are. */
export type { ProcedureParameterType };

export interface ProcedureCall {
  /** The procedure (or, on PostgreSQL, a function), optionally schema-qualified. */
  procedure: string;
  parameters?: ProcedureParameter[];
  /** Rows kept per result set (default 100); rowsAffected still counts all. */
  maxRows?: number;
}

export interface ProcedureResultSet {
  columns: Schema;
  /** Rows as canonical text (values.ts), at most maxRows. */
  rows: (string | null)[][];
  truncated: boolean;
}

export interface ProcedureResult {
  /** Output and in/out parameters, as canonical text. */
  outputs: Record<string, string | null>;
  resultSets: ProcedureResultSet[];
  rowsAffected?: number;
  /** SQL Server's RETURN value. */
  returnValue?: number;
}

/**
 * One store type. Each connector is one file exporting one of these; connectors/index.ts maps
 * DataStore types to them, so adding a store is that file, its tests and one line there.
 */
export interface Connector {
  readonly type: DataStoreType;
  openSource?(store: StoreConfig): Source;
  /** A sink writing under `folder` (CopyJob.spec.sink.path) of the store. */
  openSink?(store: StoreConfig, folder: string, options?: SinkOptions): Sink;
  /** Connects, authenticates and does something trivial; throws a DataPlaneError when it cannot. */
  testConnection(store: StoreConfig, options: ConnectOptions): Promise<{ detail?: string }>;
  runProcedure?(store: StoreConfig, call: ProcedureCall, options: ConnectOptions): Promise<ProcedureResult>;
}
