/**
 * SQL Server source (`mssql` over tedious), streaming: the request's readable stream pauses the
 * TDS connection while the sink is behind. tedious turns decimals into doubles and datetimes into
 * millisecond Dates, so the SELECT projects those to text (CONVERT with ISO styles, datetimeoffset
 * switched to UTC) and values stay exact; uniqueidentifier is lower-cased like other stores print
 * it. Tests that need a server run when FERRY_TEST_MSSQL holds a connection string; the SQL this
 * file generates and its type mapping are tested without one.
 */
import sql from "mssql";
import {
  classifyNetworkError,
  DataPlaneError,
  type ErrorContext,
  permanent,
  redact,
  transient,
  unknownError,
} from "../errors.ts";
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
  Value,
} from "../types.ts";
import { canonicalTime, canonicalTimestamp, valueText } from "../values.ts";

export const SQLSERVER_DEFAULT_PORT = 1433;

export function sqlServerContext(store: StoreConfig): ErrorContext {
  const c = store.connection;
  return {
    what: `SQL Server ${c.host}${c.port ? `:${c.port}` : ""}/${c.database}`,
    credentials: store.credentials,
  };
}

export function sqlServerConfig(store: StoreConfig, connectTimeoutMs = 15_000): sql.config {
  const c = store.connection;
  const tls = c.tlsMode ?? "Require";
  const [server, instanceName] = (c.host ?? "").split("\\");
  return {
    server: server!,
    ...(instanceName ? {} : { port: c.port ?? SQLSERVER_DEFAULT_PORT }),
    ...(c.database ? { database: c.database } : {}),
    ...(store.credentials?.username ? { user: store.credentials.username } : {}),
    ...(store.credentials?.password !== undefined ? { password: store.credentials.password } : {}),
    connectionTimeout: connectTimeoutMs,
    requestTimeout: 0,
    pool: { min: 0, max: 1 },
    options: {
      encrypt: tls !== "Disable",
      trustServerCertificate: tls !== "VerifyFull",
      appName: "ferry",
      ...(instanceName ? { instanceName } : {}),
    },
  };
}

const NUMBER_REASONS: Record<number, [string, boolean, string]> = {
  18456: ["AuthenticationFailed", false, "check the username and password"],
  4060: ["DatabaseNotFound", false, "check connection.database and that the login may open it"],
  208: ["TableNotFound", false, "check source.table or the query"],
  207: ["ColumnNotFound", false, "check the column names"],
  229: ["PermissionDenied", false, "grant the user the permission"],
  230: ["PermissionDenied", false, "grant the user the permission"],
  262: ["PermissionDenied", false, "grant the user the permission"],
  2812: ["ProcedureNotFound", false, "check the procedure's name"],
  102: ["InvalidQuery", false, "check the query's syntax"],
  156: ["InvalidQuery", false, "check the query's syntax"],
  1205: ["ConflictRetry", true, "deadlock; retrying"],
  40613: ["ServerUnavailable", true, "the database is unavailable"],
  40501: ["ServerUnavailable", true, "the service is busy"],
  49918: ["ServerUnavailable", true, "not enough resources"],
};

export function classifySqlServerError(err: unknown, context: ErrorContext): DataPlaneError {
  if (err instanceof DataPlaneError) return err;
  const e = err as { number?: number; code?: string; message?: string; originalError?: unknown };
  const raw = redact(String(e?.message ?? err), context.credentials);
  const inner = (e?.originalError as { number?: number } | undefined)?.number;
  const number = e?.number ?? inner;
  const known = number !== undefined ? NUMBER_REASONS[number] : undefined;
  if (known)
    return new DataPlaneError(known[0], `${context.what}: ${raw}; ${known[2]}`, known[1], { cause: err });
  if (e?.code === "ELOGIN") {
    return permanent("AuthenticationFailed", `${context.what}: ${raw}; check the username and password`, err);
  }
  if (/certificate|SSL|TLS|encrypt/i.test(raw)) {
    return permanent("TlsError", `${context.what}: ${raw}; check tlsMode and the server certificate`, err);
  }
  const net = classifyNetworkError(e?.originalError ?? err, context) ?? classifyNetworkError(err, context);
  if (net) return net;
  if (e?.code === "ESOCKET" || e?.code === "ECONNCLOSED")
    return transient("ConnectionLost", `${context.what}: ${raw}`, err);
  if (e?.code === "ETIMEOUT") return transient("ConnectionTimeout", `${context.what}: ${raw}`, err);
  if (e?.code === "EINSTLOOKUP")
    return permanent("DnsFailure", `${context.what}: ${raw}; check the instance name`, err);
  if (e?.code === "EREQUEST") return permanent("QueryFailed", `${context.what}: ${raw}`, err);
  return unknownError(err, context);
}

export async function connectSqlServer(
  store: StoreConfig,
  connectTimeoutMs?: number,
): Promise<sql.ConnectionPool> {
  const pool = new sql.ConnectionPool(sqlServerConfig(store, connectTimeoutMs));
  pool.on("error", () => {});
  try {
    await pool.connect();
    return pool;
  } catch (err) {
    await pool.close().catch(() => {});
    throw classifySqlServerError(err, sqlServerContext(store));
  }
}

export const quoteSqlServer = (identifier: string) => `[${identifier.replaceAll("]", "]]")}]`;
const literalSqlServer = (text: string) => `N'${text.replaceAll("'", "''")}'`;

export const sqlServerDialect: SqlDialect = {
  quote: quoteSqlServer,
  literal: literalSqlServer,
  bound(unit, value, column) {
    if (unit === "integer") return value;
    const n = BigInt(value);
    if (unit === "day") return `DATEADD(day, ${n}, CAST('1970-01-01' AS date))`;
    const days = n >= 0n ? n / 86400n : -((-n + 86399n) / 86400n);
    const seconds = n - days * 86400n;
    const epoch =
      column.sourceType === "datetimeoffset"
        ? "CAST('1970-01-01T00:00:00+00:00' AS datetimeoffset)"
        : "CAST('1970-01-01T00:00:00' AS datetime2)";
    return `DATEADD(second, ${seconds}, DATEADD(day, ${days}, ${epoch}))`;
  },
};

/** A column of a result (mssql's metadata: the type's declaration, precision, scale, length). */
export function sqlServerColumn(meta: {
  name: string;
  declaration: string;
  nullable: boolean;
  precision?: number | undefined;
  scale?: number | undefined;
  length?: number | undefined;
}): Column {
  const d = meta.declaration.toLowerCase();
  const col = (kind: ColumnKind, extra: Partial<Column> = {}): Column => ({
    name: meta.name,
    kind,
    nullable: meta.nullable,
    sourceType: d,
    ...extra,
  });
  switch (d) {
    case "bit":
      return col("boolean");
    case "tinyint":
    case "smallint":
    case "int":
      return col("int32");
    case "bigint":
      return col("int64");
    case "real":
      return col("float32");
    case "float":
      return col("float64");
    case "decimal":
    case "numeric":
      return col("decimal", { precision: meta.precision ?? 18, scale: meta.scale ?? 0 });
    case "money":
      return col("decimal", { precision: 19, scale: 4 });
    case "smallmoney":
      return col("decimal", { precision: 10, scale: 4 });
    case "date":
      return col("date");
    case "time":
      return col("time");
    case "datetime":
    case "datetime2":
    case "smalldatetime":
      return col("timestamp");
    case "datetimeoffset":
      return col("timestamptz");
    case "uniqueidentifier":
      return col("uuid");
    case "binary":
    case "varbinary":
    case "image":
    case "timestamp":
    case "rowversion":
      return col("binary");
    default:
      return col("string");
  }
}

/** The expression read for a column: exact text for what tedious would round. */
export function sqlServerProjection(column: Column, ref: string): string {
  switch (column.sourceType) {
    case "bigint":
      return `CONVERT(varchar(20), ${ref})`;
    case "decimal":
    case "numeric":
    case "money":
    case "smallmoney":
      return `CONVERT(varchar(64), ${ref})`;
    case "date":
      return `CONVERT(varchar(10), ${ref}, 23)`;
    case "time":
      return `CONVERT(varchar(16), ${ref})`;
    case "datetime":
    case "datetime2":
    case "smalldatetime":
      return `CONVERT(varchar(33), ${ref}, 126)`;
    case "datetimeoffset":
      return `CONVERT(varchar(40), SWITCHOFFSET(${ref}, '+00:00'), 127)`;
    case "uniqueidentifier":
      return `LOWER(CONVERT(varchar(36), ${ref}))`;
    case "xml":
    case "sql_variant":
      return `CONVERT(nvarchar(max), ${ref})`;
    case "geography":
    case "geometry":
    case "hierarchyid":
      return `${ref}.ToString()`;
    default:
      return ref;
  }
}

export function sqlServerValue(kind: ColumnKind, v: unknown): Value {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case "boolean":
      return v === true || v === 1;
    case "int32":
    case "float32":
    case "float64":
      return Number(v);
    case "int64":
      return BigInt(v as string);
    case "binary":
      return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
    case "timestamp":
      return canonicalTimestamp(String(v), false);
    case "timestamptz":
      return canonicalTimestamp(String(v), true);
    case "time":
      return canonicalTime(String(v));
    default:
      return String(v);
  }
}

export function sqlServerSelect(
  plan: PartitionPlan,
  from: string,
  partition: PartitionSpec | undefined,
): string {
  const cols = plan.schema
    .map(
      (c) => `${sqlServerProjection(c, `ferry_src.${quoteSqlServer(c.name)}`)} AS ${quoteSqlServer(c.name)}`,
    )
    .join(", ");
  const where = sqlWhere(sqlServerDialect, plan, partition);
  return `SELECT ${cols || "1"} FROM ${from}${where ? ` WHERE ${where}` : ""}`;
}

function declarationOf(type: unknown): string {
  const t = type as { declaration?: string; name?: string };
  return t?.declaration ?? t?.name ?? "nvarchar";
}

export class SqlServerSource implements Source {
  private readonly store: StoreConfig;
  constructor(store: StoreConfig) {
    this.store = store;
  }

  private context(): ErrorContext {
    return sqlServerContext(this.store);
  }

  async plan(request: ReadRequest, context: PlanContext): Promise<PartitionPlan> {
    const pool = await connectSqlServer(this.store);
    try {
      let from: string;
      let table: string | undefined;
      if (request.query !== undefined) from = `(${request.query}) AS ferry_src`;
      else if (request.table) {
        table = tableParts(request.table).map(quoteSqlServer).join(".");
        from = `${table} AS ferry_src`;
      } else throw permanent("InvalidSource", "the copy source needs a table or a query");
      const described = await pool.request().query(`SELECT TOP 0 * FROM ${from}`);
      const columns = Object.values(described.recordset.columns).sort((a, b) => a.index - b.index);
      const schema: Schema = columns.map((c) =>
        sqlServerColumn({
          name: c.name,
          declaration: declarationOf(c.type),
          nullable: c.nullable,
          precision: c.precision,
          scale: c.scale,
          length: c.length,
        }),
      );
      const plan: PartitionPlan = { version: 1, schema, relation: from, partitions: [] };
      if (request.incremental) {
        const w = request.incremental;
        const column = schema.find((c) => c.name === w.watermarkColumn);
        if (!column)
          throw permanent(
            "WatermarkColumnNotFound",
            `watermark column ${w.watermarkColumn} is not a column of the source`,
          );
        let upTo = w.upTo;
        if (upTo === undefined) {
          const where =
            w.after !== undefined
              ? ` WHERE ${quoteSqlServer(column.name)} > ${literalSqlServer(w.after)}`
              : "";
          const r = await pool
            .request()
            .query(
              `SELECT ${sqlServerProjection(column, `MAX(${quoteSqlServer(column.name)})`)} AS m FROM ${from}${where}`,
            );
          const m = r.recordset[0]?.m;
          upTo = m === null || m === undefined ? undefined : String(m);
        }
        plan.watermark = {
          column: column.name,
          kind: column.kind,
          ...(w.after !== undefined ? { after: w.after } : {}),
          ...(upTo !== undefined ? { upTo } : w.after !== undefined ? { upTo: w.after } : { empty: true }),
        };
      }
      const stats: KeyStats = {};
      let autoKey: string | undefined;
      if (table) {
        const r = await pool
          .request()
          .input("t", sql.NVarChar, table)
          .query(
            "SELECT SUM(p.rows) AS n FROM sys.partitions p WHERE p.object_id = OBJECT_ID(@t) AND p.index_id IN (0, 1)",
          );
        if (r.recordset[0]?.n != null) stats.rows = Number(r.recordset[0].n);
        if (request.partitioning?.mode === "Auto") {
          const k = await pool
            .request()
            .input("t", sql.NVarChar, table)
            .query(`SELECT c.name FROM sys.indexes i
                    JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
                    JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
                    WHERE i.is_primary_key = 1 AND i.object_id = OBJECT_ID(@t)`);
          if (k.recordset.length === 1) autoKey = String(k.recordset[0].name);
        }
      }
      const key = chooseKey(schema, request.partitioning, autoKey);
      if (key) {
        const c = quoteSqlServer(key.name);
        const where = sqlWhere(sqlServerDialect, plan, undefined);
        const r = await pool
          .request()
          .query(
            `SELECT ${sqlServerProjection(key, `MIN(${c})`)} AS lo, ${sqlServerProjection(key, `MAX(${c})`)} AS hi FROM ${from}${where ? ` WHERE ${where}` : ""}`,
          );
        const row = r.recordset[0];
        if (row?.lo != null) stats.min = String(row.lo);
        if (row?.hi != null) stats.max = String(row.hi);
      }
      const { key: planKey, partitions } = planKeyPartitions(
        {
          schema,
          spec: request.partitioning,
          autoKey,
          stats,
          ...(context.targetRowsPerPartition ? { targetRows: context.targetRowsPerPartition } : {}),
        },
        key,
      );
      if (planKey) plan.key = planKey;
      plan.partitions = partitions;
      return plan;
    } catch (err) {
      throw classifySqlServerError(err, this.context());
    } finally {
      await pool.close().catch(() => {});
    }
  }

  async read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData> {
    if (!plan.relation) throw new Error("a SQL Server plan names its relation");
    const text = sqlServerSelect(plan, plan.relation, partition);
    return { kind: "rows", batches: this.rows(plan.schema, text, context) };
  }

  private async *rows(schema: Schema, text: string, context: ReadContext): AsyncGenerator<Row[]> {
    const pool = await connectSqlServer(this.store);
    const kinds = schema.map((c) => c.kind);
    const request = pool.request();
    request.stream = true;
    request.arrayRowMode = true;
    const stream = request.toReadableStream({ highWaterMark: context.batchRows });
    const onAbort = () => request.cancel();
    context.signal.addEventListener("abort", onAbort, { once: true });
    void request.query(text);
    let batch: Row[] = [];
    try {
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        if (!Array.isArray(raw)) continue;
        const row: Row = new Array(raw.length);
        for (let i = 0; i < raw.length; i++) row[i] = sqlServerValue(kinds[i]!, raw[i]);
        batch.push(row);
        if (batch.length >= context.batchRows) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } catch (err) {
      if (context.signal.aborted) throw context.signal.reason ?? err;
      throw classifySqlServerError(err, this.context());
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      await pool.close().catch(() => {});
    }
  }

  async close(): Promise<void> {}
}

const MSSQL_TYPES: Record<ProcedureParameterType, () => sql.ISqlType | sql.ISqlTypeFactoryWithNoParams> = {
  String: () => sql.NVarChar(sql.MAX),
  Int: () => sql.Int,
  BigInt: () => sql.BigInt,
  Decimal: () => sql.Decimal(38, 10),
  Float: () => sql.Float,
  Boolean: () => sql.Bit,
  Date: () => sql.Date,
  Timestamp: () => sql.DateTime2(7),
  TimestampTz: () => sql.DateTimeOffset(7),
  Json: () => sql.NVarChar(sql.MAX),
  Binary: () => sql.VarBinary(sql.MAX),
};

/** EXEC with named parameters; OUTPUT parameters, the RETURN value and every result set come back. */
export async function runSqlServerProcedure(
  store: StoreConfig,
  call: ProcedureCall,
  options: ConnectOptions,
): Promise<ProcedureResult> {
  validateCall(call);
  const context = sqlServerContext(store);
  const pool = await connectSqlServer(store, options.timeoutMs);
  let sent = false;
  try {
    const request = pool.request();
    for (const p of call.parameters ?? []) {
      const text = parameterText(p);
      let value: unknown = text;
      if (text !== null) {
        if (p.type === "Binary") value = Buffer.from(text, "base64");
        else if (p.type === "Boolean") value = text === "true";
        else if (p.type === "Int" || p.type === "Float") value = Number(text);
      }
      const type = MSSQL_TYPES[p.type]();
      if ((p.direction ?? "In") === "In") request.input(p.name, type, value);
      else request.output(p.name, type, (p.direction ?? "In") === "InOut" ? value : null);
    }
    sent = true;
    const r = await request.execute(call.procedure);
    const maxRows = call.maxRows ?? 100;
    const resultSets: ProcedureResultSet[] = (
      r.recordsets as unknown as sql.IRecordSet<Record<string, unknown>>[]
    ).map((set) => {
      const meta = Object.values(set.columns).sort((a, b) => a.index - b.index);
      const columns = meta.map((c) =>
        sqlServerColumn({
          name: c.name,
          declaration: declarationOf(c.type),
          nullable: c.nullable,
          precision: c.precision,
          scale: c.scale,
        }),
      );
      const rows = set.slice(0, maxRows).map((row) =>
        columns.map((c) => {
          const raw = row[c.name];
          const v = raw instanceof Date ? raw.toISOString() : raw;
          const value = sqlServerValue(c.kind, v);
          return value === null ? null : valueText(c.kind, value);
        }),
      );
      return { columns, rows, truncated: set.length > maxRows };
    });
    const outputs: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(r.output ?? {})) {
      outputs[k] =
        v === null || v === undefined
          ? null
          : v instanceof Date
            ? v.toISOString()
            : Buffer.isBuffer(v)
              ? v.toString("base64")
              : String(v);
    }
    const rowsAffected = (r.rowsAffected ?? []).reduce((a, b) => a + b, 0);
    return {
      outputs,
      resultSets,
      rowsAffected,
      ...(typeof r.returnValue === "number" ? { returnValue: r.returnValue } : {}),
    };
  } catch (err) {
    throw afterCall(classifySqlServerError(err, context), sent);
  } finally {
    await pool.close().catch(() => {});
  }
}

export const sqlServerConnector: Connector = {
  type: "SqlServer",
  openSource: (store) => new SqlServerSource(store),
  async testConnection(store, options) {
    const pool = await connectSqlServer(store, options.timeoutMs);
    try {
      const r = await pool.request().query("SELECT @@VERSION AS v");
      return { detail: String(r.recordset[0]?.v ?? "").split("\n")[0] ?? "" };
    } catch (err) {
      throw classifySqlServerError(err, sqlServerContext(store));
    } finally {
      await pool.close().catch(() => {});
    }
  },
  runProcedure: (store, call, options) => runSqlServerProcedure(store, call, options),
};
