/**
 * MySQL and MariaDB source (`mysql2`), streaming: rows arrive through the driver's query stream,
 * which pauses the socket while the sink is behind, and leave in batches. The session runs in UTC;
 * numbers, dates and big integers come as the server's text (no double or Date in between), FLOAT
 * columns are read through CAST(... AS DOUBLE) because the server prints FLOAT with six digits.
 * Each partition reads on its own connection.
 */

import type { Connection, ConnectionOptions, FieldPacket } from "mysql2";
import mysql from "mysql2";
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
import { canonicalTime, canonicalTimestamp, float32Text, float64Text, valueText } from "../values.ts";

export const MYSQL_DEFAULT_PORT = 3306;

export function mysqlContext(store: StoreConfig): ErrorContext {
  const c = store.connection;
  return {
    what: `MySQL ${c.host}:${c.port ?? MYSQL_DEFAULT_PORT}/${c.database}`,
    credentials: store.credentials,
  };
}

export function mysqlConnectionOptions(store: StoreConfig, connectTimeoutMs = 15_000): ConnectionOptions {
  const c = store.connection;
  const tls = c.tlsMode ?? "Require";
  return {
    host: c.host,
    port: c.port ?? MYSQL_DEFAULT_PORT,
    database: c.database,
    user: store.credentials?.username,
    password: store.credentials?.password ?? "",
    ...(tls === "Disable" ? {} : { ssl: { rejectUnauthorized: tls === "VerifyFull" } }),
    connectTimeout: connectTimeoutMs,
    charset: "UTF8MB4_UNICODE_CI",
    timezone: "Z",
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    jsonStrings: true,
    multipleStatements: false,
  };
}

const ERRNO: Record<number, [reason: string, transient: boolean, advice: string]> = {
  1045: ["AuthenticationFailed", false, "check the username and password"],
  1698: ["AuthenticationFailed", false, "check the username and password"],
  1044: ["PermissionDenied", false, "grant the user access to the database"],
  1142: ["PermissionDenied", false, "grant the user SELECT on the table"],
  1143: ["PermissionDenied", false, "grant the user SELECT on the columns"],
  1370: ["PermissionDenied", false, "grant the user EXECUTE on the procedure"],
  1227: ["PermissionDenied", false, "the user lacks a privilege the statement needs"],
  1049: ["DatabaseNotFound", false, "check connection.database"],
  1146: ["TableNotFound", false, "check source.table or the query"],
  1054: ["ColumnNotFound", false, "check the column names"],
  1064: ["InvalidQuery", false, "check the query's syntax"],
  1305: ["ProcedureNotFound", false, "check the procedure's name"],
  1318: ["InvalidParameter", false, "the procedure takes a different number of parameters"],
  1213: ["ConflictRetry", true, "deadlock; retrying"],
  1205: ["ConflictRetry", true, "lock wait timeout; retrying"],
  1040: ["TooManyConnections", true, "the server has too many connections"],
  1053: ["ServerUnavailable", true, "the server is shutting down"],
  1927: ["ConnectionLost", true, "the connection was killed"],
  2006: ["ConnectionLost", true, "the server went away"],
  2013: ["ConnectionLost", true, "lost connection during a query"],
};

export function classifyMysqlError(err: unknown, context: ErrorContext): DataPlaneError {
  if (err instanceof DataPlaneError) return err;
  const e = err as { errno?: number; code?: string; message?: string; sqlMessage?: string };
  const raw = redact(String(e?.sqlMessage ?? e?.message ?? err), context.credentials);
  const known = e?.errno !== undefined ? ERRNO[e.errno] : undefined;
  if (known) {
    const [reason, isTransient, advice] = known;
    return new DataPlaneError(reason, `${context.what}: ${raw}; ${advice}`, isTransient, { cause: err });
  }
  if (e?.code === "HANDSHAKE_NO_SSL_SUPPORT" || /does not support secure connection/i.test(raw)) {
    return permanent(
      "TlsError",
      `${context.what}: the server does not offer TLS; set tlsMode: Disable or enable TLS on it`,
      err,
    );
  }
  if (e?.code === "ER_NET_PACKETS_OUT_OF_ORDER" || e?.code === "PROTOCOL_SEQUENCE_TIMEOUT") {
    return transient("ConnectionLost", `${context.what}: ${raw}`, err);
  }
  if (typeof e?.code === "string" && e.code.startsWith("ER_") && e.errno !== undefined && e.errno < 2000) {
    return permanent("QueryFailed", `${context.what}: ${raw}`, err);
  }
  return classifyNetworkError(err, context) ?? unknownError(err, context);
}

function connectOnce(options: ConnectionOptions): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const conn = mysql.createConnection(options);
    conn.on("error", () => {});
    conn.connect((err) => {
      if (!err) return resolve(conn);
      conn.destroy();
      reject(err);
    });
  });
}

function query<T = unknown>(conn: Connection, sql: string, values?: unknown[]): Promise<[T, FieldPacket[]]> {
  return new Promise((resolve, reject) => {
    conn.query({ sql, rowsAsArray: true, ...(values ? { values } : {}) }, (err, rows, fields) =>
      err ? reject(err) : resolve([rows as T, fields as FieldPacket[]]),
    );
  });
}

export async function connectMysql(store: StoreConfig, connectTimeoutMs?: number): Promise<Connection> {
  try {
    const conn = await connectOnce(mysqlConnectionOptions(store, connectTimeoutMs));
    await query(conn, "SET time_zone = '+00:00'");
    return conn;
  } catch (err) {
    throw classifyMysqlError(err, mysqlContext(store));
  }
}

function endConnection(conn: Connection): Promise<void> {
  return new Promise((resolve) => conn.end(() => resolve()));
}

export const quoteMysql = (identifier: string) => `\`${identifier.replaceAll("`", "``")}\``;
/** A string literal immune to sql_mode (NO_BACKSLASH_ESCAPES changes how quotes escape). */
const literalMysql = (text: string) =>
  `CONVERT(X'${Buffer.from(text, "utf8").toString("hex")}' USING utf8mb4)`;

export const mysqlDialect: SqlDialect = {
  quote: quoteMysql,
  literal: literalMysql,
  bound(unit, value) {
    if (unit === "integer") return value;
    if (unit === "day") return `(DATE '1970-01-01' + INTERVAL (${value}) DAY)`;
    return `(TIMESTAMP '1970-01-01 00:00:00' + INTERVAL (${value}) SECOND)`;
  },
};

// Protocol column types (include/mysql_com.h).
const T = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;
const NOT_NULL = 1;
const UNSIGNED = 32;
const BINARY_CHARSET = 63;

function flagsOf(f: { flags: number | string[] }): number {
  if (typeof f.flags === "number") return f.flags;
  let n = 0;
  if (f.flags.includes("NOT_NULL")) n |= NOT_NULL;
  if (f.flags.includes("UNSIGNED")) n |= UNSIGNED;
  return n;
}

/** Column metadata (as mysql2 reports it) → column kind. */
export function mysqlColumn(f: {
  name: string;
  columnType?: number;
  type?: number;
  flags: number | string[];
  characterSet?: number;
  decimals: number;
  columnLength?: number;
  extendedTypeName?: string;
  extendedFormat?: string;
}): Column {
  const type = f.columnType ?? f.type ?? T.VAR_STRING;
  const flags = flagsOf(f);
  const nullable = (flags & NOT_NULL) === 0;
  const unsigned = (flags & UNSIGNED) !== 0;
  const col = (kind: ColumnKind, sourceType: string, extra: Partial<Column> = {}): Column => ({
    name: f.name,
    kind,
    nullable,
    sourceType,
    ...extra,
  });
  const binary = f.characterSet === BINARY_CHARSET;
  switch (type) {
    case T.TINY:
      return col("int32", unsigned ? "tinyint unsigned" : "tinyint");
    case T.SHORT:
      return col("int32", unsigned ? "smallint unsigned" : "smallint");
    case T.INT24:
      return col("int32", unsigned ? "mediumint unsigned" : "mediumint");
    case T.LONG:
      return unsigned ? col("int64", "int unsigned") : col("int32", "int");
    case T.LONGLONG:
      return unsigned
        ? col("decimal", "bigint unsigned", { precision: 20, scale: 0 })
        : col("int64", "bigint");
    case T.YEAR:
      return col("int32", "year");
    case T.FLOAT:
      return col("float32", "float");
    case T.DOUBLE:
      return col("float64", "double");
    case T.DECIMAL:
    case T.NEWDECIMAL: {
      const scale = f.decimals;
      const length = f.columnLength ?? 0;
      const precision = length - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1);
      return precision > 0 && precision <= 65
        ? col("decimal", `decimal(${precision},${scale})`, { precision, scale })
        : col("decimal", "decimal");
    }
    case T.DATE:
    case T.NEWDATE:
      return col("date", "date");
    case T.TIME:
      // MySQL TIME is an interval (-838:59:59 to 838:59:59), not a time of day.
      return col("string", "time");
    case T.DATETIME:
      return col("timestamp", "datetime");
    case T.TIMESTAMP:
      return col("timestamptz", "timestamp");
    case T.BIT:
      return f.columnLength === 1 ? col("boolean", "bit(1)") : col("int64", `bit(${f.columnLength ?? ""})`);
    case T.JSON:
      return col("json", "json");
    case T.GEOMETRY:
      return col("binary", "geometry");
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
    case T.VAR_STRING:
    case T.VARCHAR:
    case T.STRING:
    case T.ENUM:
    case T.SET: {
      if (f.extendedFormat === "json") return col("json", "json");
      if (f.extendedTypeName === "uuid") return col("uuid", "uuid");
      if (binary)
        return col("binary", type === T.STRING ? "binary" : type === T.VAR_STRING ? "varbinary" : "blob");
      return col(
        "string",
        type >= T.TINY_BLOB && type <= T.BLOB ? "text" : type === T.STRING ? "char" : "varchar",
      );
    }
    default:
      return col("string", `type ${type}`);
  }
}

/** The expression read for a column (FLOAT widened so no digit is lost). */
export function mysqlProjection(column: Column, ref: string): string {
  if (column.kind === "float32") return `CAST(${ref} AS DOUBLE)`;
  return ref;
}

/** A value as mysql2 returns it (text, number or Buffer) → the column kind's value. */
export function mysqlValue(kind: ColumnKind, v: unknown): Value {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case "int32":
      return Number(v);
    case "int64":
      if (Buffer.isBuffer(v)) return BigInt(`0x${v.toString("hex") || "0"}`);
      return BigInt(v as string | number);
    case "boolean":
      if (Buffer.isBuffer(v)) return v[0] === 1;
      return v === 1 || v === "1" || v === true;
    case "float32":
    case "float64":
      return typeof v === "number" ? v : Number(v);
    case "decimal":
      return String(v);
    case "binary":
      return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
    case "timestamp":
      return canonicalTimestamp(String(v), false);
    case "timestamptz":
      return canonicalTimestamp(String(v), true);
    case "time":
      return canonicalTime(String(v));
    default:
      return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  }
}

export function mysqlSelect(plan: PartitionPlan, from: string, partition: PartitionSpec | undefined): string {
  const cols = plan.schema
    .map((c) => `${mysqlProjection(c, `ferry_src.${quoteMysql(c.name)}`)} AS ${quoteMysql(c.name)}`)
    .join(", ");
  const where = sqlWhere(mysqlDialect, plan, partition);
  return `SELECT ${cols || "1"} FROM ${from}${where ? ` WHERE ${where}` : ""}`;
}

export class MysqlSource implements Source {
  private readonly store: StoreConfig;
  constructor(store: StoreConfig) {
    this.store = store;
  }

  private context(): ErrorContext {
    return mysqlContext(this.store);
  }

  private async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await connectMysql(this.store);
    try {
      return await fn(conn);
    } catch (err) {
      throw classifyMysqlError(err, this.context());
    } finally {
      await endConnection(conn);
    }
  }

  async plan(request: ReadRequest, context: PlanContext): Promise<PartitionPlan> {
    return this.withConnection(async (conn) => {
      let from: string;
      let table: { schema?: string; name: string } | undefined;
      if (request.query !== undefined) from = `(${request.query}) AS ferry_src`;
      else if (request.table) {
        const parts = tableParts(request.table);
        if (parts.length > 2)
          throw permanent("InvalidTable", `MySQL tables are database.table at most: ${request.table}`);
        table = parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { name: parts[0]! };
        from = `${parts.map(quoteMysql).join(".")} AS ferry_src`;
      } else throw permanent("InvalidSource", "the copy source needs a table or a query");
      const [, fields] = await query(conn, `SELECT * FROM ${from} LIMIT 0`);
      const names = new Set<string>();
      const schema: Schema = fields.map((f) => {
        if (names.has(f.name))
          throw permanent("DuplicateColumn", `the source has two columns named ${f.name}; alias them`);
        names.add(f.name);
        return mysqlColumn(f);
      });
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
            w.after !== undefined ? ` WHERE ${quoteMysql(column.name)} > ${literalMysql(w.after)}` : "";
          const [rows] = await query<unknown[][]>(
            conn,
            `SELECT MAX(${quoteMysql(column.name)}) FROM ${from}${where}`,
          );
          const m = rows[0]?.[0];
          upTo = m === null || m === undefined ? undefined : String(m);
        }
        plan.watermark = {
          column: column.name,
          kind: column.kind,
          ...(w.after !== undefined ? { after: w.after } : {}),
          ...(upTo !== undefined ? { upTo } : w.after !== undefined ? { upTo: w.after } : { empty: true }),
        };
      }
      let autoKey: string | undefined;
      const stats: KeyStats = {};
      if (table) {
        const schemaExpr = table.schema ? "?" : "DATABASE()";
        const vals = table.schema ? [table.schema, table.name] : [table.name];
        const [t] = await query<unknown[][]>(
          conn,
          `SELECT TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${schemaExpr} AND TABLE_NAME = ?`,
          vals,
        );
        if (t[0]) {
          stats.rows = Number(t[0][0] ?? 0);
          stats.bytes = Number(t[0][1] ?? 0);
        }
        if (request.partitioning?.mode === "Auto") {
          const [k] = await query<unknown[][]>(
            conn,
            `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' AND TABLE_SCHEMA = ${schemaExpr} AND TABLE_NAME = ?`,
            vals,
          );
          if (k.length === 1) autoKey = String(k[0]![0]);
        }
      }
      const key = chooseKey(schema, request.partitioning, autoKey);
      if (key) {
        const where = sqlWhere(mysqlDialect, plan, undefined);
        const c = quoteMysql(key.name);
        const [r] = await query<unknown[][]>(
          conn,
          `SELECT MIN(${c}), MAX(${c}) FROM ${from}${where ? ` WHERE ${where}` : ""}`,
        );
        const [lo, hi] = r[0] ?? [];
        if (lo !== null && lo !== undefined) stats.min = String(lo);
        if (hi !== null && hi !== undefined) stats.max = String(hi);
      }
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
    });
  }

  async read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData> {
    if (!plan.relation) throw new Error("a MySQL plan names its relation");
    const sql = mysqlSelect(plan, plan.relation, partition);
    return { kind: "rows", batches: this.rows(plan.schema, sql, context) };
  }

  private async *rows(schema: Schema, sql: string, context: ReadContext): AsyncGenerator<Row[]> {
    const conn = await connectMysql(this.store);
    const kinds = schema.map((c) => c.kind);
    const stream = conn.query({ sql, rowsAsArray: true }).stream({ highWaterMark: context.batchRows });
    const onAbort = () => stream.destroy(new Error("aborted"));
    context.signal.addEventListener("abort", onAbort, { once: true });
    let batch: Row[] = [];
    try {
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        const row: Row = new Array(raw.length);
        for (let i = 0; i < raw.length; i++) row[i] = mysqlValue(kinds[i]!, raw[i]);
        batch.push(row);
        if (batch.length >= context.batchRows) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } catch (err) {
      if (context.signal.aborted) throw context.signal.reason ?? err;
      throw classifyMysqlError(err, this.context());
    } finally {
      context.signal.removeEventListener("abort", onAbort);
      if (!stream.readableEnded) {
        stream.destroy();
        conn.destroy();
      } else await endConnection(conn);
    }
  }

  async close(): Promise<void> {}
}

// Stored procedures.

function procedureValue(p: NonNullable<ProcedureCall["parameters"]>[number]): unknown {
  const text = parameterText(p);
  if (text === null) return null;
  if (p.type === "Binary") return Buffer.from(text, "base64");
  if (p.type === "Boolean") return text === "true" ? 1 : 0;
  return text;
}

/**
 * CALL with positional arguments (MySQL procedures have no named notation, so `parameters` must be
 * in declaration order); Out and InOut parameters go through session variables read back after
 * the call. Every result set the procedure selects is returned.
 */
export async function runMysqlProcedure(
  store: StoreConfig,
  call: ProcedureCall,
  options: ConnectOptions,
): Promise<ProcedureResult> {
  const parts = validateCall(call);
  if (parts.length > 2)
    throw permanent("InvalidProcedure", `MySQL procedures are database.procedure at most: ${call.procedure}`);
  const context = mysqlContext(store);
  const conn = await connectMysql(store, options.timeoutMs);
  let sent = false;
  try {
    const params = call.parameters ?? [];
    const values: unknown[] = [];
    const args: string[] = [];
    const outs: { name: string; variable: string }[] = [];
    for (const [i, p] of params.entries()) {
      const direction = p.direction ?? "In";
      if (direction === "In") {
        args.push("?");
        values.push(procedureValue(p));
        continue;
      }
      const variable = `@ferry_p${i}`;
      outs.push({ name: p.name, variable });
      await query(conn, `SET ${variable} = ?`, [direction === "InOut" ? procedureValue(p) : null]);
      args.push(variable);
    }
    sent = true;
    const [result, fields] = await query<unknown>(
      conn,
      `CALL ${parts.map(quoteMysql).join(".")}(${args.join(", ")})`,
      values,
    );
    const maxRows = call.maxRows ?? 100;
    const resultSets: ProcedureResultSet[] = [];
    let rowsAffected: number | undefined;
    const sets = Array.isArray(result) ? result : [result];
    sets.forEach((set, i) => {
      if (Array.isArray(set)) {
        const columns = ((fields as unknown as (FieldPacket[] | undefined)[])[i] ?? []).map((f) =>
          mysqlColumn(f),
        );
        const rows = (set as unknown[][]).map((r) =>
          r.map((v, j) => {
            const value = mysqlValue(columns[j]!.kind, v);
            return value === null ? null : valueText(columns[j]!.kind, value);
          }),
        );
        resultSets.push({ columns, rows: rows.slice(0, maxRows), truncated: rows.length > maxRows });
      } else if (set && typeof set === "object" && "affectedRows" in set) {
        rowsAffected = Number((set as { affectedRows: number }).affectedRows);
      }
    });
    const outputs: Record<string, string | null> = {};
    if (outs.length > 0) {
      const [rows, outFields] = await query<unknown[][]>(
        conn,
        `SELECT ${outs.map((o) => `${o.variable} AS ${quoteMysql(o.name)}`).join(", ")}`,
      );
      outs.forEach((o, i) => {
        const v = rows[0]?.[i];
        const kind = mysqlColumn(outFields[i]!).kind;
        const value = mysqlValue(kind === "float32" ? "float64" : kind, v);
        outputs[o.name] =
          value === null
            ? null
            : kind === "float64"
              ? float64Text(value as number)
              : kind === "float32"
                ? float32Text(value as number)
                : valueText(kind, value);
      });
    }
    return { outputs, resultSets, ...(rowsAffected !== undefined ? { rowsAffected } : {}) };
  } catch (err) {
    throw afterCall(classifyMysqlError(err, context), sent);
  } finally {
    await endConnection(conn);
  }
}

export const mysqlConnector: Connector = {
  type: "MySQL",
  openSource: (store) => new MysqlSource(store),
  async testConnection(store, options) {
    const conn = await connectMysql(store, options.timeoutMs);
    try {
      const [rows] = await query<unknown[][]>(conn, "SELECT VERSION()");
      return { detail: `server ${rows[0]?.[0]}` };
    } catch (err) {
      throw classifyMysqlError(err, mysqlContext(store));
    } finally {
      await endConnection(conn);
    }
  },
  runProcedure: (store, call, options) => runMysqlProcedure(store, call, options),
};
