/**
 * PostgreSQL connector on a real server: types mapped faithfully in every format, the COPY fast
 * path writing exactly what the encoder would, partitions covering every row once, and errors
 * classified with an actionable reason.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { parquetMetadata } from "hyparquet";
import { type PostgresServer, startPostgres } from "../../../hack/src/services/index.ts";
import {
  connectPostgres,
  copyFastPathEligible,
  PostgresSource,
  postgresCanonical,
} from "../../src/dataplane/connectors/postgres.ts";
import { IDLE_MS, idlePostgresSessions } from "../../src/dataplane/connectors/postgres-sessions.ts";
import { CsvEncoder, csvDialect } from "../../src/dataplane/formats/csv.ts";
import { type DataPlaneError, runCopy } from "../../src/dataplane/index.ts";
import type { PartitionPlan, Row } from "../../src/dataplane/types.ts";
import { valueFromText } from "../../src/dataplane/values.ts";
import { copyJob, fileStore, pgDatabase, postgresStore, readOutput, uniqueName } from "./helpers.ts";

let server: PostgresServer;
let share: string;
before(async () => {
  server = await startPostgres();
  share = await mkdtemp(join(tmpdir(), "ferry-pg-share-"));
});
after(async () => {
  await server?.stop();
  await rm(share, { recursive: true, force: true });
});

/**
 * A read that takes the cursor (row batches): JSON Lines in a dialect other than the canonical one,
 * which the COPY fast paths do not serve. The tests that use it check they got rows.
 */
const CURSOR = ["JsonLines", csvDialect({ header: false, delimiter: ";" })] as const;

const TYPES_TABLE = `
  CREATE TABLE t (
    id int PRIMARY KEY, i8 bigint, n numeric(38,10), nu numeric, r real, d double precision,
    ts timestamp, tstz timestamptz, dt date, tm time, b bytea, s text, j jsonb, u uuid, flag boolean
  );
  INSERT INTO t VALUES
   (1, 9007199254740993, 12345678901234567890.0123456789, 3.14159265358979323846264338327950288, 1.1, 1e-7,
    '2024-02-29 23:59:59.999999', '2024-03-10 01:02:03.456789+05:30', '2024-02-29', '13:14:15.5', '\\x00ff10',
    E'héllo, "世界"\\n🚀;', '{"a": [1, 2.5, "x"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
   (2, -9223372036854775808, -0.0000000001, 'NaN', 'NaN', '-Infinity',
    '1970-01-01 00:00:00', '1969-12-31 23:59:59.5+00', '1900-01-01', '00:00:00', '\\x',
    '', '[]', '00000000-0000-0000-0000-000000000000', false),
   (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

const EXPECTED: (string | null)[][] = [
  [
    "1",
    "9007199254740993",
    "12345678901234567890.0123456789",
    "3.14159265358979323846264338327950288",
    "1.1",
    "1e-7",
    "2024-02-29T23:59:59.999999",
    "2024-03-09T19:32:03.456789Z",
    "2024-02-29",
    "13:14:15.5",
    "AP8Q",
    'héllo, "世界"\n🚀;',
    '{"a": [1, 2.5, "x"]}',
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "true",
  ],
  [
    "2",
    "-9223372036854775808",
    "-0.0000000001",
    "NaN",
    "NaN",
    "-Infinity",
    "1970-01-01T00:00:00",
    "1969-12-31T23:59:59.5Z",
    "1900-01-01",
    "00:00:00",
    "",
    "",
    "[]",
    "00000000-0000-0000-0000-000000000000",
    "false",
  ],
  ["3", null, null, null, null, null, null, null, null, null, null, null, null, null, null],
];

describe("PostgreSQL types are mapped faithfully", () => {
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  before(async () => {
    db = await pgDatabase(server);
    await db.client.query(TYPES_TABLE);
  });
  after(() => db.client.end());

  const copyTo = async (format: "Csv" | "JsonLines" | "Parquet") => {
    const job = copyJob(
      { dataStoreRef: { name: "pg" }, table: "t" },
      { format, compression: format === "Parquet" ? "Snappy" : "None" },
    );
    await runCopy({ job, source: postgresStore(server, db.name), sink: fileStore(share), attempt: 1 });
    return { job, out: await readOutput(fileStore(share), job.spec.sink.path) };
  };
  const byId = (rows: (string | null)[][]) => [...rows].sort((a, b) => Number(a[0]) - Number(b[0]));

  test("CSV holds the canonical text of every value, NULL distinct from empty", async () => {
    const { out } = await copyTo("Csv");
    assert.deepEqual(byId(out.rows), EXPECTED);
    assert.deepEqual(
      out.manifest.schema.map((c) => `${c.name}:${c.kind}`),
      [
        "id:int32",
        "i8:int64",
        "n:decimal",
        "nu:decimal",
        "r:float32",
        "d:float64",
        "ts:timestamp",
        "tstz:timestamptz",
        "dt:date",
        "tm:time",
        "b:binary",
        "s:string",
        "j:json",
        "u:uuid",
        "flag:boolean",
      ],
    );
    assert.equal(out.manifest.schema[0]!.nullable, false, "NOT NULL comes from the catalog");
  });

  test("JSON Lines: exact int64 literals, decimals as strings, JSON embedded, non-finite floats as strings", async () => {
    const { job, out } = await copyTo("JsonLines");
    const text = await readFile(join(share, job.spec.sink.path, out.manifest.parts[0]!.file), "utf8");
    const line = text.split("\n").find((l) => l.startsWith('{"id":1,'))!;
    assert.match(line, /"i8":9007199254740993,/);
    assert.match(line, /"n":"12345678901234567890\.0123456789"/);
    assert.match(line, /"r":1\.1,"d":1e-7,/);
    assert.match(line, /"j":\{"a": \[1, 2\.5, "x"\]\}/);
    assert.match(line, /"b":"AP8Q"/);
    assert.match(line, /"s":"héllo, \\"世界\\"\\n🚀;"/);
    assert.match(line, /"flag":true\}$/);
    const line2 = text.split("\n").find((l) => l.startsWith('{"id":2,'))!;
    assert.match(line2, /"i8":-9223372036854775808,/);
    assert.match(line2, /"r":"NaN","d":"-Infinity"/);
    const line3 = text.split("\n").find((l) => l.startsWith('{"id":3,'))!;
    assert.match(line3, /"i8":null/);
    for (const l of text.split("\n").filter(Boolean)) JSON.parse(l);
  });

  test("timestamps BC, infinite or past year 9999, booleans and bytea: both read paths give PostgreSQL's text made canonical", async () => {
    await db.client.query(`
      CREATE TABLE edge (id int PRIMARY KEY, ts timestamp, tstz timestamptz, flag boolean, b bytea);
      INSERT INTO edge VALUES
       (1, '2024-01-31 12:34:56.120000', '2024-01-31 12:34:56.120000+00', true, '\\x00ff10'),
       (2, '2024-01-31 12:34:56', '2024-03-10 01:02:03.456789+05:30', false, '\\x'),
       (3, 'infinity', 'infinity', NULL, NULL),
       (4, '-infinity', '-infinity', true, decode(repeat('ab', 120), 'hex')),
       (5, '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC', NULL, NULL),
       (6, '0001-12-31 23:59:59.5 BC', '0001-01-01 00:30:00.5+01', NULL, NULL),
       (7, '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', NULL, NULL),
       (8, '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', NULL, NULL),
       (9, '12345-06-07 08:09:10.000001', '12345-06-07 08:09:10.000001+00', NULL, NULL),
       (10, '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', NULL, NULL),
       (11, NULL, NULL, NULL, NULL)`);
    // The row path's text: the connector's own session (UTC, ISO), each value printed by
    // PostgreSQL and made canonical in TypeScript.
    const store = postgresStore(server, db.name);
    const session = await connectPostgres(store);
    const printed = await session
      .query({
        text: "SELECT id::text, ts::text, tstz::text, flag::text, b::text FROM edge ORDER BY edge.id",
        rowMode: "array",
      })
      .finally(() => session.end());
    const source = new PostgresSource(store);
    const plan = await source.plan({ table: "edge" }, planContext());
    assert.equal(plan.partitions.length, 1);
    const kinds = plan.schema.map((c) => c.kind);
    const expected = (printed.rows as (string | null)[][]).map((row) =>
      row.map((v, i) => (v === null ? null : postgresCanonical(kinds[i]!, v))),
    );
    assert.deepEqual(expected[4]!.slice(1, 3), ["0044-03-15T12:00:00 BC", "0044-03-15T12:00:00Z BC"]);
    const values = expected.map((row) =>
      row.map((v, i) => (v === null ? null : valueFromText(kinds[i]!, v))),
    );
    const dialect = csvDialect({ header: false });
    const read = (format: "Csv" | "JsonLines", csv = dialect) =>
      source.read(plan, plan.partitions[0]!, {
        signal: new AbortController().signal,
        format,
        csv,
        batchRows: 4,
      });
    const fast = await read("Csv");
    assert.equal(fast.kind, "csv");
    if (fast.kind !== "csv") return;
    const chunks: Buffer[] = [];
    for await (const c of fast.bytes) chunks.push(Buffer.from(c));
    // No field holds a line break: one record a line, in whatever order COPY reads them.
    const lines = (text: string) => text.split("\n").sort();
    const want = Buffer.concat(new CsvEncoder(plan.schema, dialect).encode(values)).toString();
    assert.deepEqual(lines(Buffer.concat(chunks).toString()), lines(want));
    const slow = await read(...CURSOR);
    assert.equal(slow.kind, "rows");
    if (slow.kind !== "rows") return;
    const rows: Row[] = [];
    for await (const b of slow.batches) rows.push(...b);
    assert.deepEqual(
      rows.sort((a, b) => Number(a[0]) - Number(b[0])),
      values,
    );
  });

  test("Parquet: typed columns with exact values", async () => {
    const { job, out } = await copyTo("Parquet");
    const rows = byId(out.rows);
    // JSON comes back as its text; everything else as the canonical text.
    assert.deepEqual(rows, EXPECTED);
    const data = await readFile(join(share, job.spec.sink.path, out.manifest.parts[0]!.file));
    const meta = parquetMetadata(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    const types = Object.fromEntries(
      meta.schema
        .slice(1)
        .map((e) => [e.name, `${e.type}/${e.logical_type?.type ?? e.converted_type ?? "-"}`]),
    );
    assert.deepEqual(types, {
      id: "INT32/-",
      i8: "INT64/-",
      n: "FIXED_LEN_BYTE_ARRAY/DECIMAL",
      nu: "BYTE_ARRAY/STRING",
      r: "FLOAT/-",
      d: "DOUBLE/-",
      ts: "INT64/TIMESTAMP",
      tstz: "INT64/TIMESTAMP",
      dt: "INT32/DATE",
      tm: "INT64/TIME",
      b: "BYTE_ARRAY/-",
      s: "BYTE_ARRAY/STRING",
      j: "BYTE_ARRAY/JSON",
      u: "BYTE_ARRAY/STRING",
      flag: "BOOLEAN/-",
    });
    const tstz = meta.schema.find((e) => e.name === "tstz")!.logical_type as { isAdjustedToUTC?: boolean };
    const ts = meta.schema.find((e) => e.name === "ts")!.logical_type as { isAdjustedToUTC?: boolean };
    assert.equal(tstz.isAdjustedToUTC, true);
    assert.equal(ts.isAdjustedToUTC, false);
    assert.equal(meta.schema.find((e) => e.name === "id")!.repetition_type, "REQUIRED");
  });
});

describe("PostgreSQL read paths and partitions", () => {
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  before(async () => {
    db = await pgDatabase(server);
    await db.client.query(`
      CREATE TABLE p (id bigint, at timestamptz, day date, v numeric(10,3), s text);
      INSERT INTO p SELECT g, timestamptz '2023-06-01 00:00:00+00' + g * interval '17 minutes', date '2020-01-01' + g / 10,
        g / 7.0, CASE WHEN g % 5 = 0 THEN E'a,"b"\\nc' ELSE 'plain' END FROM generate_series(1, 3000) g;
      INSERT INTO p VALUES (NULL, NULL, NULL, NULL, 'null key');`);
  });
  after(() => db.client.end());

  /** Copies table p (3001 rows) to the share as `job` says, and checks that every row came. */
  const copyP = async (job: ReturnType<typeof copyJob>) => {
    const r = await runCopy({
      job,
      source: postgresStore(server, db.name),
      sink: fileStore(share),
      attempt: 1,
    });
    assert.equal(r.output.rows, 3001);
    return r;
  };

  const readAll = async (
    source: PostgresSource,
    plan: PartitionPlan,
    format: "Csv" | "JsonLines",
    csv = csvDialect({ header: false }),
  ) => {
    const parts: { kind: string; rows: Row[]; bytes: Buffer }[] = [];
    for (const partition of plan.partitions) {
      const data = await source.read(plan, partition, {
        signal: new AbortController().signal,
        format,
        csv,
        batchRows: 333,
      });
      if (data.kind === "csv") {
        const chunks: Buffer[] = [];
        for await (const c of data.bytes) chunks.push(Buffer.from(c));
        parts.push({ kind: "csv", rows: [], bytes: Buffer.concat(chunks) });
      } else {
        const rows: Row[] = [];
        for await (const b of data.batches) rows.push(...b);
        parts.push({ kind: "rows", rows, bytes: Buffer.alloc(0) });
      }
    }
    return parts;
  };

  test("the COPY fast path writes byte for byte what the CSV encoder writes from the cursor's rows", async () => {
    const source = new PostgresSource(postgresStore(server, db.name));
    const plan = await source.plan(
      { table: "p", partitioning: { mode: "Column", column: "id", count: 3 } },
      planContext(),
    );
    const fast = await readAll(source, plan, "Csv");
    const slow = await readAll(source, plan, ...CURSOR);
    assert.ok(fast.every((p) => p.kind === "csv") && slow.every((p) => p.kind === "rows"));
    const encoder = new CsvEncoder(plan.schema, csvDialect({ header: false }));
    for (let i = 0; i < fast.length; i++) {
      const encoded = Buffer.concat(encoder.encode(slow[i]!.rows));
      assert.equal(fast[i]!.bytes.toString(), encoded.toString(), `partition ${i}`);
    }
  });

  test("a copy reuses its connections: the plan's for the first read, at most `parallelism` in all", async () => {
    // Sessions PostgreSQL counted for this database, once the ended ones are flushed (at exit).
    const sessions = async () => {
      await db.client.query("SELECT pg_stat_clear_snapshot()");
      const r = await db.client.query(
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
      );
      return Number(r.rows[0].sessions);
    };
    const settled = async () => {
      let last = await sessions();
      for (;;) {
        await delay(300);
        const now = await sessions();
        if (now === last) return now;
        last = now;
      }
    };
    const copyWith = async (format: "Csv" | "JsonLines", count: number, parallelism: number) => {
      // Sessions earlier copies left idle would serve this one: count from none.
      await idlePostgresSessions.close();
      const before = await settled();
      const job = copyJob(
        { dataStoreRef: { name: "pg" }, table: "p", partitioning: { mode: "Column", column: "id", count } },
        { format },
      );
      job.spec.parallelism = parallelism;
      await copyP(job);
      return (await settled()) - before;
    };
    assert.equal(await copyWith("Csv", 1, 4), 1, "one partition: the plan's connection reads it");
    // Without reuse: one for the plan and one per partition, 7.
    for (const format of ["Csv", "JsonLines"] as const) {
      const used = await copyWith(format, 6, 2);
      assert.ok(used >= 1 && used <= 2, `six partitions, two at a time (${format}): ${used} connections`);
    }
  });

  test("the next copy of the same store takes the sessions a copy left idle; other credentials do not", async () => {
    await idlePostgresSessions.close();
    const backends = async (user: string) => {
      const r = await db.client.query(
        "SELECT array_agg(pid ORDER BY pid) AS pids FROM pg_stat_activity WHERE datname = current_database() AND usename = $1 AND application_name = 'ferry'",
        [user],
      );
      return (r.rows[0].pids as number[] | null) ?? [];
    };
    const job = () => copyJob({ dataStoreRef: { name: "pg" }, table: "p" }, { format: "Csv" });
    await copyP(job());
    const first = await backends(server.user);
    assert.equal(first.length, 1, "a one-partition copy leaves its one session idle");
    assert.equal(idlePostgresSessions.size, 1);
    await copyP(job());
    assert.deepEqual(await backends(server.user), first, "the second copy used the same backend");

    // Another user of the same database never meets that session.
    const other = uniqueName("reader");
    await db.client.query(
      `CREATE ROLE ${other} LOGIN PASSWORD 'other-secret'; GRANT SELECT ON p TO ${other}`,
    );
    await runCopy({
      job: job(),
      source: postgresStore(server, db.name, { username: other, password: "other-secret" }),
      sink: fileStore(share),
      attempt: 1,
    });
    assert.equal((await backends(other)).length, 1, "its own session");
    assert.equal(idlePostgresSessions.size, 2);

    // Unused, they end.
    await delay(IDLE_MS + 500);
    assert.equal(idlePostgresSessions.size, 0);
    assert.deepEqual(await backends(server.user), [], "the server saw them end");
  });

  test("an abort ends a slow plan at once, and its query on the server", async () => {
    // The key's range needs the whole query: 1000 rows at 10 ms each, 10 s.
    const query = "SELECT g AS id FROM generate_series(1, 1000) g WHERE pg_sleep(0.01) IS NOT NULL";
    const source = new PostgresSource(postgresStore(server, db.name));
    const abort = new AbortController();
    const started = performance.now();
    setTimeout(() => abort.abort(new Error("stopping")), 300);
    await assert.rejects(
      source.plan(
        { query, partitioning: { mode: "Column", column: "id", count: 4 } },
        { ...planContext(), signal: abort.signal },
      ),
      /stopping/,
    );
    const took = performance.now() - started;
    assert.ok(took < 2000, `the plan ended ${Math.round(took)} ms after it began`);
    await source.close();
    // The server notices the closed socket at its next sleep and ends the backend.
    const running = async () =>
      Number(
        (
          await db.client.query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.01)%' AND pid <> pg_backend_pid()",
          )
        ).rows[0].n,
      );
    const deadline = Date.now() + 5000;
    while ((await running()) > 0 && Date.now() < deadline) await delay(100);
    assert.equal(await running(), 0, "the planning query still runs on the server");
  });

  test("the content checksum is the same from COPY's bytes, in any dialect, and from the cursor's rows", async () => {
    const copy = async (format: "Csv" | "JsonLines", csv?: { delimiter: string; nullValue: string }) => {
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table: "p",
          partitioning: { mode: "Column", column: "id", count: 3 },
        },
        { format, ...(csv ? { csv } : {}) },
      );
      return (await copyP(job)).output.contentChecksum;
    };
    const plan = await new PostgresSource(postgresStore(server, db.name)).plan({ table: "p" }, planContext());
    const other = { delimiter: ";", nullValue: "NULL" };
    // Both CSV copies take the fast path: the canonical dialect hashes the bytes where they lie,
    // another dialect parses each record first.
    assert.ok(copyFastPathEligible(plan.schema, "Csv", csvDialect({})));
    assert.ok(copyFastPathEligible(plan.schema, "Csv", csvDialect(other)));
    const rows = await copy("JsonLines");
    assert.equal(await copy("Csv"), rows);
    assert.equal(await copy("Csv", other), rows);
  });

  for (const column of ["id", "at", "day", "v"]) {
    test(`partitions on ${column} cover every row exactly once, NULL keys included`, async () => {
      const source = new PostgresSource(postgresStore(server, db.name));
      const plan = await source.plan(
        { table: "p", partitioning: { mode: "Column", column, count: 7 } },
        planContext(),
      );
      assert.equal(plan.partitions.length, 7);
      assert.deepEqual(
        plan.partitions.map((p) => p.id),
        ["p00000", "p00001", "p00002", "p00003", "p00004", "p00005", "p00006"],
      );
      const parts = await readAll(source, plan, ...CURSOR);
      assert.ok(parts.every((p) => p.kind === "rows"));
      const counts = parts.map((p) => p.rows.length);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        3001,
      );
      assert.ok(
        counts.every((c) => c > 0),
        `every range holds rows: ${counts}`,
      );
      const ids = parts.flatMap((p) => p.rows.map((r) => String(r[0])));
      assert.equal(new Set(ids).size, 3001);
      // Planning again gives the same partitions (ids and ranges).
      const again = await source.plan(
        { table: "p", partitioning: { mode: "Column", column, count: 7 } },
        planContext(),
      );
      assert.deepEqual(again.partitions, plan.partitions);
    });
  }
});

describe("PostgreSQL errors say what to fix", () => {
  test("missing table, bad password, no privilege, bad column", async () => {
    const db = await pgDatabase(server);
    try {
      await db.client.query("CREATE TABLE secret (id int); CREATE ROLE reader LOGIN PASSWORD 'reader-pw'");
      const expectReason = async (promise: Promise<unknown>, reason: string, transient = false) => {
        await assert.rejects(promise, (e: DataPlaneError) => {
          assert.equal(e.reason, reason, e.message);
          assert.equal(e.transient, transient);
          assert.doesNotMatch(e.message, /reader-pw|wrong-pw/);
          return true;
        });
      };
      const job = (table: string, extra = {}) =>
        copyJob({ dataStoreRef: { name: "pg" }, table, ...extra }, { format: "Csv" });
      const sink = fileStore(share);
      await expectReason(
        runCopy({ job: job("missing"), source: postgresStore(server, db.name), sink, attempt: 1 }),
        "TableNotFound",
      );
      await expectReason(
        runCopy({
          job: job("secret"),
          source: postgresStore(server, db.name, { username: "reader", password: "wrong-pw" }),
          sink,
          attempt: 1,
        }),
        "AuthenticationFailed",
      );
      await expectReason(
        runCopy({
          job: job("secret"),
          source: postgresStore(server, db.name, { username: "reader", password: "reader-pw" }),
          sink,
          attempt: 1,
        }),
        "PermissionDenied",
      );
      await expectReason(
        runCopy({
          job: job("secret", { partitioning: { mode: "Column", column: "nope" } }),
          source: postgresStore(server, db.name),
          sink,
          attempt: 1,
        }),
        "PartitionColumnNotFound",
      );
      await expectReason(
        runCopy({
          job: copyJob({ dataStoreRef: { name: "pg" }, query: "SELEC 1" }, { format: "Csv" }),
          source: postgresStore(server, db.name),
          sink,
          attempt: 1,
        }),
        "InvalidQuery",
      );
    } finally {
      await db.client.end();
    }
  });

  test("a table name is found as written, or folded to lower case as PostgreSQL does", async () => {
    const db = await pgDatabase(server);
    try {
      await db.client.query(
        `CREATE TABLE "MixedCase" (id int); INSERT INTO "MixedCase" VALUES (1); CREATE TABLE lower_t (id int); INSERT INTO lower_t VALUES (2)`,
      );
      for (const [table, expected] of [
        ["MixedCase", "1"],
        ["LOWER_T", "2"],
        ["public.lower_t", "2"],
      ] as const) {
        const job = copyJob(
          { dataStoreRef: { name: "pg" }, table },
          { format: "Csv", path: uniqueName("case") },
        );
        const r = await runCopy({
          job,
          source: postgresStore(server, db.name),
          sink: fileStore(share),
          attempt: 1,
        });
        assert.equal(r.output.rows, 1);
        const out = await readOutput(fileStore(share), job.spec.sink.path);
        assert.deepEqual(out.rows, [[expected]]);
      }
    } finally {
      await db.client.end();
    }
  });
});

function planContext() {
  return { signal: new AbortController().signal, log: { debug() {}, info() {}, warn() {}, error() {} } };
}
