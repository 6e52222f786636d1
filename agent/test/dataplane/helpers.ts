/**
 * Builders and readers shared by the data plane tests: store configs for the test servers, CopyJob
 * fixtures, and an independent reader of a job's output (decodes every part listed in _SUCCESS back
 * to canonical text rows, so tests compare what is really in the files with the source).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { gunzipSync } from "node:zlib";
import type { CopyActivitySpec, CopySink, CopySource } from "@ferry/crds";
import { parquetMetadata, parquetRead } from "hyparquet";
import mysql from "mysql2/promise";
import pg from "pg";
import {
  type AzuriteServer,
  type MariaDbServer,
  type PostgresServer,
  startPostgres,
} from "../../../hack/src/services/index.ts";
import { CANONICAL_CSV, ContentChecksum } from "../../src/dataplane/checksum.ts";
import { connectorFor } from "../../src/dataplane/connectors/index.ts";
import { copyFastPathEligible, PostgresSource } from "../../src/dataplane/connectors/postgres.ts";
import { type CopyJobRef, type CopyResult, runCopy } from "../../src/dataplane/copy.ts";
import { CsvParser } from "../../src/dataplane/formats/csv.ts";
import { MANIFEST_NAME, type Manifest } from "../../src/dataplane/manifest.ts";
import type { Column, Row, Schema, StoreConfig } from "../../src/dataplane/types.ts";
import { float32Text, float64Text } from "../../src/dataplane/values.ts";

let counter = 0;
/** A unique lower-case name for a test's database, container or folder. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${process.pid}x${counter}x${Math.floor(Math.random() * 1e6)}`.toLowerCase();
}

export function postgresStore(
  server: PostgresServer,
  database: string,
  credentials?: { username: string; password: string },
): StoreConfig {
  return {
    type: "PostgreSQL",
    connection: { host: server.host, port: server.port, database, tlsMode: "Disable" },
    credentials: credentials ?? { username: server.user, password: server.password },
  };
}

export function mariaStore(
  server: MariaDbServer,
  database: string,
  credentials?: { username: string; password: string },
): StoreConfig {
  return {
    type: "MySQL",
    connection: { host: server.host, port: server.port, database, tlsMode: "Disable" },
    credentials: credentials ?? { username: server.user, password: server.password },
  };
}

export function blobStore(azurite: AzuriteServer, container: string): StoreConfig {
  return {
    type: "AzureBlob",
    connection: { accountUrl: azurite.blobEndpoint, container },
    credentials: { accountKey: azurite.accountKey },
  };
}

export function fileStore(path: string): StoreConfig {
  return { type: "FileShare", connection: { path } };
}

export async function createContainer(azurite: AzuriteServer, name: string): Promise<void> {
  const { BlobServiceClient } = await import("@azure/storage-blob");
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name).create();
}

/** A new database on the PostgreSQL test server, and a client connected to it. */
export async function pgDatabase(server: PostgresServer): Promise<{ name: string; client: pg.Client }> {
  const name = uniqueName("db");
  await server.psql(`CREATE DATABASE ${name}`);
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: name,
  });
  await client.connect();
  return { name, client };
}

/**
 * Table k: a column of every kind PostgreSQL's canonical projection reads without floats, with
 * edge values (extremes, NaN, infinity, BC, 24:00, empty bytea and strings, quotes, control bytes,
 * JSON with a line break, NULLs) and 4,995 ordinary rows: 5,001 rows. Views: `finite` (no
 * infinity or BC, 4,999 rows), `nojson` (k without its json columns), `nobytes` (without bytea)
 * and `finite_nobytes`.
 */
export async function createEveryKindTable(client: pg.Client): Promise<void> {
  await client.query(`
      CREATE TABLE k (
        id int PRIMARY KEY, i2 smallint, i8 bigint, n12 numeric(12,2), n18 numeric(18,4), n38 numeric(38,10),
        nu numeric, ts timestamp, tstz timestamptz, dt date, tm time, b bytea, s text, j jsonb, js json,
        u uuid, flag boolean
      );
      INSERT INTO k VALUES
       (1, 32767, 9223372036854775807, 9999999999.99, 99999999999999.9999, 9999999999999999999999999999.9999999999,
        123456789012345678901234567890.5, '2024-02-29 23:59:59.999999', '2024-03-10 01:02:03.456789+05:30',
        '2024-02-29', '23:59:59.999999', '\\x00ff10', E'héllo, "世界"\\n🚀;\\r\\n''\\t\\\\ \\x01', '{"a": [1, 2.5, "x\\ny"]}',
        E'{"b" :\\n "c,d"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
       (2, -32768, -9223372036854775808, -9999999999.99, -0.0001, -0.0000000001, 'NaN',
        '1969-12-31 23:59:59.5', '1900-01-01 00:00:00+00', '1969-12-31', '00:00:00', '\\x', '', '[]', '""',
        '00000000-0000-0000-0000-000000000000', false),
       (3, 0, 0, 0, 0, 0, 0, 'infinity', '-infinity', 'infinity', '12:00:00.5', '\\xdeadbeef', ',', 'null', 'null',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', true),
       (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       (5, 1, 4503599627370497, 0.01, 12345678901234.5678, 1.5, -1e-30, '1600-06-15 12:00:00', '2300-01-01 00:00:00.000001+00',
        '0001-01-01', '24:00:00', '\\x00', '"', '{}', '{}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', false);
      -- BC: PostgreSQL prints " BC" after the time, which the projection must keep apart.
      INSERT INTO k (id, ts, tstz, dt) VALUES
       (0, '0044-03-15 12:00:00.25 BC', '0044-03-15 12:00:00+00 BC', '0044-03-15 BC');
      INSERT INTO k SELECT g, g % 100, g::bigint * 1000003, g / 7.0, g / 3.0, g * 1.5, g, timestamp '2024-01-01' + g * interval '1 minute',
        timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 seconds', date '2000-01-01' + g, time '00:00' + g * interval '1 second',
        int8send(g), CASE WHEN g % 5 = 0 THEN NULL ELSE 'row ' || g || CASE WHEN g % 7 = 0 THEN ', "q"' ELSE '' END END,
        jsonb_build_object('g', g), json_build_object('g', g), gen_random_uuid(), g % 3 = 0
      FROM generate_series(6, 5000) g;
      -- The test reader prints timestamps through Date, which has no infinity and no " BC".
      CREATE VIEW finite AS SELECT * FROM k WHERE id NOT IN (0, 3);
      -- A reader re-prints embedded JSON (its spaces go): file-level comparisons leave json out.
      CREATE VIEW nojson AS SELECT id, i2, i8, n12, n18, n38, nu, ts, tstz, dt, tm, b, s, u, flag FROM k;
      -- Every kind formats/parquet-fields.wat parses: k without bytea.
      CREATE VIEW nobytes AS SELECT id, i2, i8, n12, n18, n38, nu, ts, tstz, dt, tm, s, j, js, u, flag FROM k;
      CREATE VIEW finite_nobytes AS SELECT * FROM nobytes WHERE id NOT IN (0, 3);`);
}

/**
 * For a describe block: a PostgreSQL server with table k (createEveryKindTable) in a database of
 * its own, and a folder for FileShare sinks, made before its tests and removed after them.
 */
export function everyKindPostgres(): { server: PostgresServer; database: string; share: string } {
  const f = {} as { server: PostgresServer; database: string; share: string; client?: pg.Client };
  before(async () => {
    f.server = await startPostgres();
    f.share = await mkdtemp(join(tmpdir(), "ferry-kinds-share-"));
    const db = await pgDatabase(f.server);
    f.database = db.name;
    f.client = db.client;
    await createEveryKindTable(db.client);
  });
  after(async () => {
    await f.client?.end();
    await f.server?.stop();
    if (f.share) await rm(f.share, { recursive: true, force: true });
  });
  return f;
}

/**
 * Copies a table (or view) of an everyKindPostgres database into its share, in three Column
 * partitions on id, and reads the output back as a consumer would.
 */
export async function copyEveryKind(
  f: { server: PostgresServer; database: string; share: string },
  table: string,
  sink: Partial<CopySink>,
): Promise<{ r: CopyResult; out: OutputRead }> {
  const job = copyJob(
    { dataStoreRef: { name: "pg" }, table, partitioning: { mode: "Column", column: "id", count: 3 } },
    sink,
  );
  const r = await runCopy({
    job,
    source: postgresStore(f.server, f.database),
    sink: fileStore(f.share),
    attempt: 1,
  });
  return { r, out: await readOutput(fileStore(f.share), job.spec.sink.path) };
}

/**
 * Each of the two partitions of table k read both ways: COPY's canonical bytes (what the CSV,
 * Parquet and JSON Lines fast paths read) and the cursor's row batches, which a read gets when it
 * asks JSON Lines in a dialect the fast paths do not serve. Checks each read took its path.
 */
export async function readKBothWays(
  server: PostgresServer,
  database: string,
  fastFormat: "Parquet" | "JsonLines",
  table = "k",
): Promise<{
  schema: Schema;
  parts: { id: string; bytes: AsyncIterable<Uint8Array>; batches: AsyncIterable<Row[]> }[];
}> {
  const source = new PostgresSource(postgresStore(server, database));
  const signal = new AbortController().signal;
  const plan = await source.plan(
    { table, partitioning: { mode: "Column", column: "id", count: 2 } },
    { signal, log: { debug() {}, info() {}, warn() {}, error() {} } },
  );
  assert.ok(copyFastPathEligible(plan.schema, fastFormat, { ...CANONICAL_CSV }));
  const parts = [];
  for (const partition of plan.partitions) {
    const context = { signal, batchRows: 777 };
    const fast = await source.read(plan, partition, {
      ...context,
      format: fastFormat,
      csv: { ...CANONICAL_CSV },
    });
    const slow = await source.read(plan, partition, {
      ...context,
      format: "JsonLines",
      csv: { ...CANONICAL_CSV, delimiter: ";" },
    });
    if (fast.kind !== "csv") throw new Error(`partition ${partition.id}: the fast read gave ${fast.kind}`);
    if (slow.kind !== "rows") throw new Error(`partition ${partition.id}: the cursor read gave ${slow.kind}`);
    parts.push({ id: partition.id, bytes: fast.bytes, batches: slow.batches });
  }
  return { schema: plan.schema, parts };
}

export async function mariaDatabase(
  server: MariaDbServer,
): Promise<{ name: string; conn: mysql.Connection }> {
  const name = uniqueName("db");
  await server.sql(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  const conn = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: name,
    multipleStatements: true,
    timezone: "Z",
  });
  await conn.query("SET time_zone = '+00:00'");
  return { name, conn };
}

type SpecMod = (spec: CopyActivitySpec) => void;

/** A CopyJob with a fresh uid; mods adjust the spec. */
export function copyJob(source: CopySource, sink: Partial<CopySink>, ...mods: SpecMod[]): CopyJobRef {
  const spec: CopyActivitySpec = {
    gatewayRef: { name: "gw" },
    source,
    sink: { dataStoreRef: { name: "sink" }, path: uniqueName("out"), format: "Csv", ...sink },
    parallelism: 4,
  };
  for (const mod of mods) mod(spec);
  return { uid: randomUUID(), name: uniqueName("job"), namespace: "test", spec };
}

/** The canonical text of a decoded Parquet value. */
function parquetText(column: Column, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  switch (column.kind) {
    case "boolean":
      return v ? "true" : "false";
    case "float32":
      return float32Text(v as number);
    case "float64":
      return float64Text(v as number);
    case "binary":
      return Buffer.from(v as Uint8Array).toString("base64");
    case "decimal": {
      if (typeof v === "string") return v;
      if (v instanceof Uint8Array && column.precision === undefined) return Buffer.from(v).toString("utf8");
      const scale = column.scale ?? 0;
      let unscaled: bigint;
      if (v instanceof Uint8Array) {
        unscaled =
          v.length === 0 ? 0n : BigInt.asIntN(v.length * 8, BigInt(`0x${Buffer.from(v).toString("hex")}`));
      } else unscaled = BigInt(v as number | bigint);
      const neg = unscaled < 0n;
      const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, "0");
      const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
      return neg ? `-${text}` : text;
    }
    case "date":
      return new Date(Number(v) * 86_400_000).toISOString().slice(0, 10);
    case "time": {
      const micros = BigInt(v as bigint);
      const s = Number(micros / 1_000_000n);
      const f = String(micros % 1_000_000n)
        .padStart(6, "0")
        .replace(/0+$/, "");
      const hh = String(Math.floor(s / 3600)).padStart(2, "0");
      const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
      const ss = String(s % 60).padStart(2, "0");
      return `${hh}:${mm}:${ss}${f ? `.${f}` : ""}`;
    }
    case "timestamp":
    case "timestamptz": {
      const micros = BigInt(v as bigint);
      const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
      const iso = new Date(Number(ms)).toISOString().slice(0, 19);
      const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
      const f = String(frac).padStart(6, "0").replace(/0+$/, "");
      return `${iso}${f ? `.${f}` : ""}${column.kind === "timestamptz" ? "Z" : ""}`;
    }
    default:
      return typeof v === "string"
        ? v
        : v instanceof Uint8Array
          ? Buffer.from(v).toString("utf8")
          : String(v);
  }
}

type ParquetParsers = NonNullable<Parameters<typeof parquetRead>[0]["parsers"]>;

/**
 * Every row of a Parquet file as hyparquet decodes it, byte arrays as bytes, decimals unconverted
 * (hyparquet would turn them into doubles), timestamps and dates as their physical integers;
 * `parsers` override these.
 */
export async function readParquetRows(data: Buffer, parsers: ParquetParsers = {}): Promise<unknown[][]> {
  const whole = new ArrayBuffer(data.byteLength);
  new Uint8Array(whole).set(data);
  const file = {
    byteLength: whole.byteLength,
    slice: (s: number, e?: number) => whole.slice(s, e ?? whole.byteLength),
  };
  const metadata = parquetMetadata(file.slice(0));
  for (const el of metadata.schema) {
    if (el.converted_type === "DECIMAL") {
      delete el.converted_type;
      delete el.logical_type;
    }
  }
  let rows: unknown[][] = [];
  await parquetRead({
    file,
    metadata,
    rowFormat: "array",
    utf8: false,
    compressors: { GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)) },
    parsers: {
      timestampFromMicroseconds: (m: bigint) => m,
      timestampFromMilliseconds: (m: bigint) => m * 1000n,
      timestampFromNanoseconds: (n: bigint) => n / 1000n,
      dateFromDays: (d: number) => d,
      jsonFromBytes: (b: Uint8Array) => Buffer.from(b).toString("utf8"),
      ...parsers,
    },
    onComplete: (r: unknown[][]) => {
      rows = r;
    },
  });
  return rows;
}

export async function decodeParquet(data: Buffer, schema: Schema): Promise<(string | null)[][]> {
  const rows = await readParquetRows(data);
  return rows.map((r) => r.map((v, i) => parquetText(schema[i]!, v)));
}

function jsonText(column: Column, v: unknown, source: string | undefined): string | null {
  if (v === null) return null;
  switch (column.kind) {
    case "boolean":
      return v ? "true" : "false";
    case "int32":
    case "int64":
      return source ?? String(v);
    case "float32":
      return typeof v === "string" ? v : float32Text(v as number);
    case "float64":
      return typeof v === "string" ? v : float64Text(v as number);
    case "json":
      return JSON.stringify(v);
    default:
      return String(v);
  }
}

export function decodeJsonLines(text: string, schema: Schema): (string | null)[][] {
  const rows: (string | null)[][] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const sources = new Map<string, string>();
    const reviver = (key: string, value: unknown, context?: { source?: string }) => {
      if (typeof value === "number" && context?.source) sources.set(key, context.source);
      return value;
    };
    const obj = JSON.parse(line, reviver as (k: string, v: unknown) => unknown) as Record<string, unknown>;
    rows.push(schema.map((c) => jsonText(c, obj[c.name] ?? null, sources.get(c.name))));
  }
  return rows;
}

export interface OutputRead {
  manifest: Manifest;
  rows: (string | null)[][];
  /** Content checksum recomputed from the decoded files. */
  contentChecksum: string;
  partRows: number[];
}

/** Reads a job's output the way a consumer would: the manifest, then each part it lists. */
export async function readOutput(store: StoreConfig, folder: string): Promise<OutputRead> {
  const sink = (await connectorFor(store.type)).openSink!(store, folder);
  const m = await sink.read(MANIFEST_NAME);
  if (!m) throw new Error(`no ${MANIFEST_NAME} in ${folder}`);
  const manifest = JSON.parse(m.data.toString("utf8")) as Manifest;
  const rows: (string | null)[][] = [];
  const partRows: number[] = [];
  for (const part of manifest.parts) {
    const file = await sink.read(part.file);
    if (!file) throw new Error(`part ${part.file} listed in the manifest is missing`);
    let data = file.data;
    if (part.file.endsWith(".gz")) data = gunzipSync(data);
    let decoded: (string | null)[][];
    if (manifest.format === "Csv") {
      const parser = new CsvParser(manifest.csv!);
      decoded = [...parser.push(data), ...parser.end()];
      if (manifest.csv!.header) decoded.shift();
    } else if (manifest.format === "JsonLines") {
      decoded = decodeJsonLines(data.toString("utf8"), manifest.schema);
    } else {
      decoded = await decodeParquet(data, manifest.schema);
    }
    partRows.push(decoded.length);
    rows.push(...decoded);
  }
  const sum = new ContentChecksum();
  for (const r of rows) sum.addFields(r);
  return { manifest, rows, contentChecksum: sum.toString(), partRows };
}

/** Content checksum of rows given as canonical text (as a test computes them from the source). */
export function checksumOf(rows: (string | null)[][]): string {
  const sum = new ContentChecksum();
  for (const r of rows) sum.addFields(r);
  return sum.toString();
}

export function sortRows(rows: (string | null)[][]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** Same multiset of rows; on failure reports counts and the first few differences only. */
export function assertSameRows(
  actual: (string | null)[][],
  expected: (string | null)[][],
  what = "rows",
): void {
  const a = sortRows(actual);
  const e = sortRows(expected);
  if (a.length === e.length && a.every((x, i) => x === e[i])) return;
  const inA = new Map<string, number>();
  for (const x of a) inA.set(x, (inA.get(x) ?? 0) + 1);
  const missing: string[] = [];
  for (const x of e) {
    const n = inA.get(x) ?? 0;
    if (n > 0) inA.set(x, n - 1);
    else missing.push(x);
  }
  const extra = [...inA].filter(([, n]) => n > 0).map(([x]) => x);
  throw new Error(
    `${what} differ: ${a.length} read, ${e.length} expected; missing ${missing.length} e.g. ${missing.slice(0, 2).join(" | ")}; unexpected ${extra.length} e.g. ${extra.slice(0, 2).join(" | ")}`,
  );
}
