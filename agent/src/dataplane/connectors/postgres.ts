/**
 * PostgreSQL source (`pg`). Every value is fetched as text in its canonical form (values.ts): the
 * SELECT projects booleans to true/false, bytea to base64 and timestamps to ISO text in UTC
 * (postgresProjection), with the session in UTC and ISO date style. That one projection feeds both
 * read paths:
 *
 * - CSV fast path: `COPY (SELECT ...) TO STDOUT (FORMAT csv)` read by postgres-copy-out.ts, when the
 *   output needs no re-encoding: format Csv, a dialect COPY accepts, and no float column (COPY
 *   prints 1e-07 where the canonical text is 1e-7). The bytes go to the sink as they come; in the
 *   canonical dialect timestamps and booleans come as PostgreSQL prints them and the agent puts in
 *   their T, Z and true/false on the way (postgres-text.ts, agentMadeText says when). Format
 *   Parquet takes the same bytes, in the canonical dialect, floats included, and parses them into
 *   columns (formats/parquet-csv.ts); format JsonLines takes them too, floats excluded, and copies
 *   each record's fields into an object (formats/jsonl-csv.ts).
 * - Otherwise a server-side cursor (DECLARE ... NO SCROLL CURSOR, FETCH n) in a read-only
 *   transaction, one batch per FETCH, so a partition never holds more than a batch in memory.
 *
 * Each partition reads on its own connection. Identifiers are quoted; a table name that is not
 * found as written is retried lower-cased (how PostgreSQL folds unquoted names).
 */
import pg from "pg";
import { isCanonicalDialect } from "../checksum.ts";
import {
  classifyNetworkError,
  DataPlaneError,
  type ErrorContext,
  permanent,
  redact,
  transient,
  unknownError,
} from "../errors.ts";
import { CSV_PARQUET_KINDS } from "../formats/parquet-csv.ts";
import {
  chooseKey,
  type KeyStats,
  planKeyPartitions,
  type SqlDialect,
  sqlWhere,
  tableParts,
} from "../partitioning.ts";
import { afterCall, parameterText, validateCall } from "../procedure-params.ts";
import type {
  Column,
  ColumnKind,
  ConnectOptions,
  Connector,
  CsvDialect,
  PartitionData,
  PartitionPlan,
  PartitionSpec,
  PlanContext,
  ProcedureCall,
  ProcedureParameterType,
  ProcedureResult,
  ProcedureResultSet,
  ReadContext,
  ReadRequest,
  Row,
  Schema,
  Source,
  StoreConfig,
} from "../types.ts";
import { canonicalTime, canonicalTimestamp, float32Text, float64Text, valueFromText } from "../values.ts";
import { copyOut } from "./postgres-copy-out.ts";
import { IdleSessions, idlePostgresSessions } from "./postgres-sessions.ts";
import { canonicalPostgresText, postgresTextCodes, rewrittenKind } from "./postgres-text.ts";

export const POSTGRES_DEFAULT_PORT = 5432;

const RAW_TEXT = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export function postgresClientConfig(store: StoreConfig, connectTimeoutMs = 15_000): pg.ClientConfig {
  const c = store.connection;
  const tls = c.tlsMode ?? "Require";
  return {
    host: c.host,
    port: c.port ?? POSTGRES_DEFAULT_PORT,
    database: c.database,
    user: store.credentials?.username,
    password: store.credentials?.password ?? "",
    ssl: tls === "Disable" ? false : { rejectUnauthorized: tls === "VerifyFull", servername: c.host },
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: "ferry",
    keepAlive: true,
  };
}

export function postgresContext(store: StoreConfig): ErrorContext {
  const c = store.connection;
  return {
    what: `PostgreSQL ${c.host}:${c.port ?? POSTGRES_DEFAULT_PORT}/${c.database}`,
    credentials: store.credentials,
  };
}

/** SQLSTATE → reason, transient or not, and advice. */
export function classifyPostgresError(err: unknown, context: ErrorContext): DataPlaneError {
  if (err instanceof DataPlaneError) return err;
  const e = err as { code?: string; message?: string };
  const where = context.what;
  const raw = redact(String(e?.message ?? err), context.credentials);
  const code = typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (code) {
    if (code === "28P01" || code === "28000") {
      return permanent(
        "AuthenticationFailed",
        `${where}: authentication failed (${raw}); check the username and password`,
        err,
      );
    }
    if (code === "3D000")
      return permanent("DatabaseNotFound", `${where}: ${raw}; check connection.database`, err);
    if (code === "42P01")
      return permanent("TableNotFound", `${where}: ${raw}; check source.table or the query`, err);
    if (code === "42703") return permanent("ColumnNotFound", `${where}: ${raw}`, err);
    if (code === "42501") {
      return permanent("PermissionDenied", `${where}: ${raw}; grant the user the privilege it needs`, err);
    }
    if (code === "42883" || code === "42P02") return permanent("InvalidQuery", `${where}: ${raw}`, err);
    if (code.startsWith("42")) return permanent("InvalidQuery", `${where}: ${raw}`, err);
    if (code.startsWith("22")) return permanent("DataError", `${where}: ${raw}`, err);
    if (code === "53300") return transient("TooManyConnections", `${where}: ${raw}`, err);
    if (code.startsWith("53") || code.startsWith("08"))
      return transient("ServerUnavailable", `${where}: ${raw}`, err);
    if (code === "57014") return transient("QueryCancelled", `${where}: ${raw}`, err);
    if (code.startsWith("57")) return transient("ServerUnavailable", `${where}: ${raw}`, err);
    if (code === "40001" || code === "40P01") return transient("ConflictRetry", `${where}: ${raw}`, err);
  }
  const net = classifyNetworkError(err, context);
  if (net) return net;
  if (/Connection terminated|terminating connection|server closed the connection/i.test(raw)) {
    return transient("ConnectionLost", `${where}: ${raw}`, err);
  }
  return unknownError(err, context);
}

export async function connectPostgres(store: StoreConfig, connectTimeoutMs?: number): Promise<pg.Client> {
  const client = new pg.Client(postgresClientConfig(store, connectTimeoutMs));
  // A connection that dies while idle emits 'error'; without a listener that would crash the agent.
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query(
      "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1",
    );
  } catch (err) {
    await client.end().catch(() => {});
    throw classifyPostgresError(err, postgresContext(store));
  }
  return client;
}

export const quotePg = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const literalPg = (text: string) => `'${text.replaceAll("'", "''")}'`;

export const postgresDialect: SqlDialect = {
  quote: quotePg,
  literal: literalPg,
  bound(unit, value, column) {
    if (unit === "integer") return value;
    if (unit === "day") return `(DATE '1970-01-01' + (${value}))`;
    return column.kind === "timestamptz"
      ? `to_timestamp(${value})`
      : `(TIMESTAMP '1970-01-01 00:00:00' + (${value}) * INTERVAL '1 second')`;
  },
};

/** PostgreSQL type OID (and typmod) → column kind. */
export function postgresColumn(name: string, oid: number, typmod: number, nullable: boolean): Column {
  const col = (kind: ColumnKind, sourceType: string, extra: Partial<Column> = {}): Column => ({
    name,
    kind,
    nullable,
    sourceType,
    ...extra,
  });
  switch (oid) {
    case 16:
      return col("boolean", "boolean");
    case 20:
      return col("int64", "bigint");
    case 21:
      return col("int32", "smallint");
    case 23:
      return col("int32", "integer");
    case 26:
      return col("int64", "oid");
    case 700:
      return col("float32", "real");
    case 701:
      return col("float64", "double precision");
    case 1700: {
      if (typmod >= 4) {
        const precision = ((typmod - 4) >> 16) & 0xffff;
        const scale = (typmod - 4) & 0xffff;
        // PostgreSQL 15 allows a negative scale or one above the precision: keep those as text.
        if (scale <= precision) return col("decimal", `numeric(${precision},${scale})`, { precision, scale });
      }
      return col("decimal", "numeric");
    }
    case 17:
      return col("binary", "bytea");
    case 1082:
      return col("date", "date");
    case 1083:
      return col("time", "time");
    case 1114:
      return col("timestamp", "timestamp");
    case 1184:
      return col("timestamptz", "timestamptz");
    case 114:
      return col("json", "json");
    case 3802:
      return col("json", "jsonb");
    case 2950:
      return col("uuid", "uuid");
    case 25:
      return col("string", "text");
    case 1043:
      return col("string", "varchar");
    case 1042:
      return col("string", "char");
    case 19:
      return col("string", "name");
    default:
      return col("string", `oid ${oid}`);
  }
}

/**
 * The expression that yields a column's canonical text: byte for byte what postgresCanonical makes
 * of the column's own text output. It runs for every value a copy reads, so each form is the
 * cheapest measured (PostgreSQL 15, backend CPU per 1 M values over the bare column):
 *
 * - boolean: a CASE of two constants (+18 ms); ::text builds a new text per row (+35 ms).
 * - bytea: base64 breaks lines every 76 characters. replace() drops the breaks (+75 ms for 8-byte
 *   values, +90 ms for 50-byte ones) where translate() took +200 ms and +900 ms.
 * - timestamp: its ISO text is "2024-01-31 12:34:56.12" (PostgreSQL trims the fraction's zeros
 *   itself), so one replace makes it canonical. Before year 1 the text ends in " BC", which a
 *   replace of every space would turn into "TBC": those values replace the first space only, with
 *   a regular expression (too slow for every row: +1.9 s).
 * - timestamptz: shifted to UTC by AT TIME ZONE INTERVAL (arithmetic, where a zone name is looked
 *   up per row) and printed as a timestamp plus Z: +100 ms, against +180 ms for replacing " " and
 *   "+00" in its own text, and right whatever the session's TimeZone. BC and infinite values take
 *   the regular expression, which also puts the Z after the time and leaves "infinity" as it is.
 *
 * With `agentText`, timestamps and booleans are left as PostgreSQL prints them (timestamptz still
 * shifted to UTC) for the agent to make canonical in the COPY stream: that costs PostgreSQL nothing
 * over the bare columns, where the forms above cost it ~0.1-0.2 s of CPU per 1 M benchmark rows.
 */
export function postgresProjection(column: Column, ref: string, agentText = false): string {
  if (agentText && rewrittenKind(column.kind))
    // PostgreSQL's own text, made canonical by the agent in the COPY stream (postgres-text.ts).
    return column.kind === "timestamptz" ? `(${ref}) AT TIME ZONE INTERVAL '+00:00'` : ref;
  switch (column.kind) {
    case "boolean":
      return `CASE WHEN ${ref} THEN 'true' WHEN NOT ${ref} THEN 'false' END`;
    case "binary":
      return `replace(encode(${ref}, 'base64'), E'\\n', '')`;
    case "timestamp":
      return `CASE WHEN ${ref} >= '0001-01-01' THEN replace((${ref})::text, ' ', 'T') ELSE regexp_replace((${ref})::text, ' ', 'T') END`;
    case "timestamptz": {
      const utc = `((${ref}) AT TIME ZONE INTERVAL '+00:00')::text`;
      return `CASE WHEN ${ref} >= '0001-01-01 00:00:00+00' AND ${ref} < 'infinity' THEN replace(${utc}, ' ', 'T') || 'Z' ELSE regexp_replace(${utc}, '^([^ ]+) ([^ ]+)', E'\\\\1T\\\\2Z') END`;
    }
    default:
      return ref;
  }
}

const FAST_PATH_KINDS = new Set<ColumnKind>([
  "boolean",
  "int32",
  "int64",
  "decimal",
  "string",
  "binary",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "json",
  "uuid",
]);

function copyCharOk(c: string): boolean {
  return c.length === 1 && c.charCodeAt(0) < 128 && c !== "\r" && c !== "\n" && c !== "\\";
}

/**
 * Whether COPY ... (FORMAT csv) writes exactly what the CSV encoder would (format Csv), or what the
 * Parquet or JSON Lines encoder of canonical CSV parses (formats Parquet and JsonLines, in the
 * canonical dialect copy.ts asks).
 */
/**
 * The columns the agent makes canonical in a COPY's bytes (postgres-text.ts) instead of the
 * projection, when it does: CSV out in the canonical dialect (postgres-text.wat knows no other).
 * There the agent has CPU to spare and PostgreSQL's projection is the largest cost over the plain
 * COPY; into Parquet or JSON Lines the agent's own thread is what the copy waits for, and moving
 * the work onto it made those copies no faster (bench/copy, interleaved runs).
 */
export function agentMadeText(schema: Schema, format: string, csv: CsvDialect): Uint8Array | undefined {
  return format === "Csv" && isCanonicalDialect(csv) ? postgresTextCodes(schema) : undefined;
}

export function copyFastPathEligible(schema: Schema, format: string, csv: CsvDialect): boolean {
  if (format === "Parquet" || format === "JsonLines") {
    // Parquet parses floats and rewrites their text; JSON Lines takes what CSV takes.
    const kinds = format === "Parquet" ? CSV_PARQUET_KINDS : FAST_PATH_KINDS;
    return schema.length > 0 && schema.every((c) => kinds.has(c.kind)) && isCanonicalDialect(csv);
  }
  if (format !== "Csv") return false;
  if (!schema.every((c) => FAST_PATH_KINDS.has(c.kind))) return false;
  if (!copyCharOk(csv.delimiter) || !copyCharOk(csv.quote) || csv.delimiter === csv.quote) return false;
  const n = csv.nullValue;
  return !n.includes(csv.delimiter) && !n.includes(csv.quote) && !/[\r\n\\]/.test(n);
}

export function copyStatement(select: string, csv: CsvDialect): string {
  return `COPY (${select}) TO STDOUT WITH (FORMAT csv, DELIMITER ${literalPg(csv.delimiter)}, QUOTE ${literalPg(csv.quote)}, NULL ${literalPg(csv.nullValue)}, ENCODING 'UTF8')`;
}

interface Resolved {
  /** FROM clause item, aliased ferry_src. */
  from: string;
  /** For tables: the quoted qualified name (for catalog lookups). */
  table?: string;
}

/**
 * SELECT of the canonical projection, for one partition. `agentText`: timestamps and booleans as
 * PostgreSQL prints them, for a COPY whose bytes the agent makes canonical (postgres-text.ts).
 */
export function postgresSelect(
  plan: PartitionPlan,
  from: string,
  partition: PartitionSpec | undefined,
  agentText = false,
): string {
  const cols = plan.schema
    .map((c) => `${postgresProjection(c, `ferry_src.${quotePg(c.name)}`, agentText)} AS ${quotePg(c.name)}`)
    .join(", ");
  const where = sqlWhere(postgresDialect, plan, partition);
  return `SELECT ${cols || "1"} FROM ${from}${where ? ` WHERE ${where}` : ""}`;
}

/** Ends a connection at once, whatever it is waiting for: the server sees the socket close. */
function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export class PostgresSource implements Source {
  private readonly store: StoreConfig;
  /** Which idle sessions this copy may take (postgres-sessions.ts): same server, database, user. */
  private readonly sessionKey: string;
  constructor(store: StoreConfig) {
    this.store = store;
    this.sessionKey = IdleSessions.key(postgresClientConfig(store));
  }

  private context(): ErrorContext {
    return postgresContext(this.store);
  }

  /** An idle session with this copy's settings (its plan's, or another copy's), else a new one. */
  private async connect(): Promise<pg.Client> {
    return idlePostgresSessions.take(this.sessionKey) ?? connectPostgres(this.store);
  }

  /** A connection that is idle (no transaction, no query) goes back for the next read. */
  private release(client: pg.Client): void {
    idlePostgresSessions.put(this.sessionKey, client);
  }

  /**
   * `signal`: an abort ends the connection at once and cancels its query in flight on the server
   * (a slow plan), which would otherwise run on: a backend notices a closed socket only when it
   * next sends something.
   */
  private async withClient<T>(fn: (client: pg.Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const client = await this.connect();
    const backend = (client as unknown as { processID?: number }).processID;
    const onAbort = () => destroySocket(client);
    signal?.addEventListener("abort", onAbort, { once: true });
    let result: T;
    try {
      result = await fn(client);
    } catch (err) {
      await client.end().catch(() => {});
      if (signal?.aborted) {
        if (backend !== undefined) await this.cancel(backend);
        throw signal.reason ?? err;
      }
      throw classifyPostgresError(err, this.context());
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (signal?.aborted) {
      await client.end().catch(() => {});
      throw signal.reason;
    }
    this.release(client);
    return result;
  }

  /** Cancels what backend `pid` runs (PostgreSQL lets a role cancel its own backends); best effort. */
  private async cancel(pid: number): Promise<void> {
    try {
      const client = await connectPostgres(this.store, 5000);
      await client.query({ text: "SELECT pg_cancel_backend($1)", values: [pid] }).finally(() => client.end());
    } catch {
      // The backend then ends when it next writes to its closed socket.
    }
  }

  private async resolve(client: pg.Client, request: ReadRequest): Promise<Resolved> {
    if (request.query !== undefined) return { from: `(${request.query}) AS ferry_src` };
    if (!request.table) throw permanent("InvalidSource", "the copy source needs a table or a query");
    const parts = tableParts(request.table);
    for (const candidate of [parts, parts.map((p) => p.toLowerCase())]) {
      const table = candidate.map(quotePg).join(".");
      const r = await client.query({ text: "SELECT to_regclass($1) IS NOT NULL AS ok", values: [table] });
      if (r.rows[0]?.ok) return { from: `${table} AS ferry_src`, table };
    }
    throw permanent(
      "TableNotFound",
      `${this.context().what}: table ${request.table} does not exist or the user cannot see it; check source.table`,
    );
  }

  async plan(request: ReadRequest, context: PlanContext): Promise<PartitionPlan> {
    return this.withClient(async (client) => {
      const resolved = await this.resolve(client, request);
      const schema = await this.describe(client, resolved);
      const plan: PartitionPlan = { version: 1, schema, relation: resolved.from, partitions: [] };
      if (request.incremental) {
        const w = request.incremental;
        const column = schema.find((c) => c.name === w.watermarkColumn);
        if (!column) {
          throw permanent(
            "WatermarkColumnNotFound",
            `watermark column ${w.watermarkColumn} is not a column of the source`,
          );
        }
        let upTo = w.upTo;
        if (upTo === undefined) {
          const where = w.after !== undefined ? ` WHERE ${quotePg(column.name)} > ${literalPg(w.after)}` : "";
          const r = await client.query({
            text: `SELECT max(${quotePg(column.name)})::text AS m FROM ${resolved.from}${where}`,
            types: RAW_TEXT,
          });
          upTo = r.rows[0]?.m ?? undefined;
        }
        plan.watermark = {
          column: column.name,
          kind: column.kind,
          ...(w.after !== undefined ? { after: w.after } : {}),
          ...(upTo !== undefined ? { upTo } : w.after !== undefined ? { upTo: w.after } : { empty: true }),
        };
      }
      const autoKey =
        request.partitioning?.mode === "Auto" && resolved.table
          ? await this.primaryKey(client, resolved.table)
          : undefined;
      const key = chooseKey(schema, request.partitioning, autoKey);
      const stats = await this.stats(client, resolved, plan, key);
      const { key: planKey, partitions } = planKeyPartitions(
        {
          schema,
          spec: request.partitioning,
          autoKey,
          stats,
          ...(context.targetRowsPerPartition ? { targetRows: context.targetRowsPerPartition } : {}),
          ...(context.targetBytesPerPartition ? { targetBytes: context.targetBytesPerPartition } : {}),
        },
        key,
      );
      if (planKey) plan.key = planKey;
      plan.partitions = partitions;
      return plan;
    }, context.signal);
  }

  private async describe(client: pg.Client, resolved: Resolved): Promise<Schema> {
    const r = await client.query({
      text: `SELECT * FROM ${resolved.from} LIMIT 0`,
      rowMode: "array",
      types: RAW_TEXT,
    });
    const notNull = new Set<string>();
    const tables = [...new Set(r.fields.map((f) => f.tableID).filter((t) => t > 0))];
    if (tables.length > 0) {
      const a = await client.query({
        text: "SELECT attrelid, attnum FROM pg_attribute WHERE attrelid = ANY($1::oid[]) AND attnotnull AND attnum > 0",
        values: [tables],
      });
      for (const row of a.rows as { attrelid: number; attnum: number }[])
        notNull.add(`${row.attrelid}:${row.attnum}`);
    }
    const names = new Set<string>();
    return r.fields.map((f) => {
      if (names.has(f.name)) {
        throw permanent(
          "DuplicateColumn",
          `the source has two columns named ${f.name}; alias them in the query`,
        );
      }
      names.add(f.name);
      const nullable = !(resolved.table && notNull.has(`${f.tableID}:${f.columnID}`));
      return postgresColumn(f.name, f.dataTypeID, f.dataTypeModifier, nullable);
    });
  }

  private async primaryKey(client: pg.Client, table: string): Promise<string | undefined> {
    const r = await client.query({
      text: `SELECT a.attname AS name FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary AND i.indnatts = 1`,
      values: [table],
    });
    return r.rows[0]?.name ?? undefined;
  }

  private async stats(
    client: pg.Client,
    resolved: Resolved,
    plan: PartitionPlan,
    key: Column | undefined,
  ): Promise<KeyStats> {
    const stats: KeyStats = {};
    if (resolved.table) {
      const r = await client.query({
        text: "SELECT reltuples::float8 AS rows, pg_total_relation_size(oid)::float8 AS bytes FROM pg_class WHERE oid = to_regclass($1)",
        values: [resolved.table],
      });
      const rows = Number(r.rows[0]?.rows ?? -1);
      if (rows >= 0) stats.rows = rows;
      stats.bytes = Number(r.rows[0]?.bytes ?? 0);
    } else {
      const r = await client.query(`EXPLAIN (FORMAT JSON) SELECT * FROM ${resolved.from}`);
      const top = (
        r.rows[0]?.["QUERY PLAN"] as { Plan?: { "Plan Rows"?: number; "Plan Width"?: number } }[]
      )?.[0]?.Plan;
      if (top?.["Plan Rows"] !== undefined) {
        stats.rows = top["Plan Rows"];
        stats.bytes = top["Plan Rows"] * (top["Plan Width"] ?? 100);
      }
    }
    if (key) {
      const where = sqlWhere(postgresDialect, plan, undefined);
      const c = quotePg(key.name);
      const r = await client.query({
        text: `SELECT min(${c})::text AS lo, max(${c})::text AS hi FROM ${resolved.from}${where ? ` WHERE ${where}` : ""}`,
        types: RAW_TEXT,
      });
      if (r.rows[0]?.lo != null) stats.min = r.rows[0].lo;
      if (r.rows[0]?.hi != null) stats.max = r.rows[0].hi;
    }
    return stats;
  }

  async read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData> {
    if (!plan.relation) throw new Error("a PostgreSQL plan names its relation");
    if (copyFastPathEligible(plan.schema, context.format, context.csv)) {
      const codes = agentMadeText(plan.schema, context.format, context.csv);
      const select = postgresSelect(plan, plan.relation, partition, codes !== undefined);
      const bytes = this.copyBytes(copyStatement(select, context.csv), context.signal);
      return { kind: "csv", bytes: codes ? canonicalPostgresText(bytes, codes) : bytes };
    }
    const select = postgresSelect(plan, plan.relation, partition);
    return { kind: "rows", batches: this.cursorRows(plan.schema, select, context) };
  }

  private async *copyBytes(sql: string, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const client = await this.connect();
    let clean = false;
    try {
      yield* copyOut(client, sql, signal);
      clean = true;
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      throw classifyPostgresError(err, this.context());
    } finally {
      // A consumer that stopped early leaves the COPY unfinished (copyOut destroyed the socket).
      if (clean && !signal.aborted) this.release(client);
      else await client.end().catch(() => {});
    }
  }

  private async *cursorRows(schema: Schema, select: string, context: ReadContext): AsyncGenerator<Row[]> {
    const client = await this.connect();
    let clean = false;
    const kinds = schema.map((c) => c.kind);
    // Closing the socket ends a FETCH in flight; the generator then throws and cleans up.
    const onAbort = () => destroySocket(client);
    context.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      await client.query(`DECLARE ferry_cursor NO SCROLL CURSOR FOR ${select}`);
      for (;;) {
        const r = await client.query({
          text: `FETCH FORWARD ${context.batchRows} FROM ferry_cursor`,
          rowMode: "array",
          types: RAW_TEXT,
        });
        if (r.rows.length === 0) break;
        const rows = r.rows as (string | null)[][];
        const batch: Row[] = new Array(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const src = rows[i]!;
          const row: Row = new Array(src.length);
          for (let j = 0; j < src.length; j++) {
            const v = src[j];
            row[j] = v === null || v === undefined ? null : valueFromText(kinds[j]!, v);
          }
          batch[i] = row;
        }
        yield batch;
        if (r.rows.length < context.batchRows) break;
      }
      await client.query("COMMIT");
      clean = true;
    } catch (err) {
      if (context.signal.aborted) throw context.signal.reason ?? err;
      throw classifyPostgresError(err, this.context());
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      // Not after an error or a consumer that stopped early: the transaction may still be open.
      if (clean && !context.signal.aborted) this.release(client);
      else await client.end().catch(() => {});
    }
  }

  /** Its idle sessions stay for the next read (postgres-sessions.ts ends them when unused). */
  async close(): Promise<void> {}
}

export const postgresConnector: Connector = {
  type: "PostgreSQL",
  openSource: (store) => new PostgresSource(store),
  async testConnection(store, options) {
    const client = await connectPostgres(store, options.timeoutMs);
    try {
      const r = await client.query(
        "SELECT current_setting('server_version') AS v, has_database_privilege(current_database(), 'CONNECT') AS c",
      );
      return { detail: `PostgreSQL ${r.rows[0]?.v}` };
    } catch (err) {
      throw classifyPostgresError(err, postgresContext(store));
    } finally {
      await client.end().catch(() => {});
    }
  },
  runProcedure: (store, call, options) => runPostgresProcedure(store, call, options),
};

// Stored procedures (stored-procedure.ts is the entry point).

const PG_PARAMETER_TYPES: Record<ProcedureParameterType, string> = {
  String: "text",
  Int: "integer",
  BigInt: "bigint",
  Decimal: "numeric",
  Float: "double precision",
  Boolean: "boolean",
  Date: "date",
  Timestamp: "timestamp",
  TimestampTz: "timestamptz",
  Json: "",
  Binary: "bytea",
};

/** PostgreSQL's text output of a value → its canonical text. */
export function postgresCanonical(kind: ColumnKind, text: string): string {
  switch (kind) {
    case "boolean":
      return text === "t" || text === "true" ? "true" : "false";
    case "binary":
      return text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex").toString("base64") : text;
    case "timestamp":
      return canonicalTimestamp(text, false);
    case "timestamptz":
      return canonicalTimestamp(text, true);
    case "time":
      return canonicalTime(text);
    case "float32":
      return float32Text(Number(text));
    case "float64":
      return float64Text(Number(text));
    default:
      return text;
  }
}

/**
 * Runs a procedure (CALL, OUT parameters come back as one row) or a function (SELECT * FROM f(...),
 * its rows are the result set and, with OUT parameters, the outputs), in named notation so
 * parameters match by name and overloads resolve by the declared types.
 */
export async function runPostgresProcedure(
  store: StoreConfig,
  call: ProcedureCall,
  options: ConnectOptions,
): Promise<ProcedureResult> {
  const parts = validateCall(call);
  const context = postgresContext(store);
  const client = await connectPostgres(store, options.timeoutMs);
  let sent = false;
  try {
    if (options.timeoutMs) await client.query(`SET statement_timeout = ${Math.ceil(options.timeoutMs)}`);
    const name = parts.length === 2 ? parts[1]! : parts[0]!;
    const schema = parts.length === 2 ? parts[0]! : null;
    const kinds = await client.query({
      text: `SELECT DISTINCT p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE p.proname = $1 AND (($2::text IS NULL AND pg_function_is_visible(p.oid)) OR n.nspname = $2::text)`,
      values: [name, schema],
    });
    const kindsFound = (kinds.rows as { prokind: string }[]).map((r) => r.prokind);
    if (kindsFound.length === 0) {
      throw permanent(
        "ProcedureNotFound",
        `${context.what}: no procedure or function named ${call.procedure}`,
      );
    }
    const isProcedure = kindsFound.every((k) => k === "p");
    const values: unknown[] = [];
    const args = (call.parameters ?? [])
      .filter((p) => isProcedure || (p.direction ?? "In") !== "Out")
      .map((p) => {
        const type = PG_PARAMETER_TYPES[p.type];
        if ((p.direction ?? "In") === "Out") return `${quotePg(p.name)} => NULL${type ? `::${type}` : ""}`;
        const text = parameterText(p);
        if (text === null) return `${quotePg(p.name)} => NULL${type ? `::${type}` : ""}`;
        values.push(p.type === "Binary" ? Buffer.from(text, "base64") : text);
        return `${quotePg(p.name)} => $${values.length}${type ? `::${type}` : ""}`;
      });
    const target = parts.map(quotePg).join(".");
    const sql = isProcedure
      ? `CALL ${target}(${args.join(", ")})`
      : `SELECT * FROM ${target}(${args.join(", ")})`;
    sent = true;
    const r = await client.query({ text: sql, values, rowMode: "array", types: RAW_TEXT });
    const columns = (r.fields ?? []).map((f) =>
      postgresColumn(f.name, f.dataTypeID, f.dataTypeModifier, true),
    );
    const maxRows = call.maxRows ?? 100;
    const rows = (r.rows as (string | null)[][]).map((row) =>
      row.map((v, i) => (v === null ? null : postgresCanonical(columns[i]!.kind, v))),
    );
    const outputs: Record<string, string | null> = {};
    const outNames = new Set(
      (call.parameters ?? []).filter((p) => (p.direction ?? "In") !== "In").map((p) => p.name),
    );
    const resultSets: ProcedureResultSet[] = [];
    if (outNames.size > 0 && rows.length === 1 && columns.every((c) => outNames.has(c.name))) {
      columns.forEach((c, i) => {
        outputs[c.name] = rows[0]![i] ?? null;
      });
    } else if (columns.length > 0) {
      resultSets.push({ columns, rows: rows.slice(0, maxRows), truncated: rows.length > maxRows });
    }
    return {
      outputs,
      resultSets,
      ...(r.rowCount !== null && !isProcedure ? { rowsAffected: r.rowCount } : {}),
    };
  } catch (err) {
    throw afterCall(classifyPostgresError(err, context), sent);
  } finally {
    await client.end().catch(() => {});
  }
}
