/**
 * MySQL/MariaDB connector on a real MariaDB: types mapped faithfully in every format (unsigned
 * 64-bit, exact decimals, FLOAT without the server's six-digit rounding, microsecond timestamps in
 * UTC, binary, JSON, Unicode, NULLs), partitions covering every row once, errors classified.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type MariaDbServer, startMariaDb } from "../../../hack/src/services/index.ts";
import { MysqlSource } from "../../src/dataplane/connectors/mysql.ts";
import { csvDialect } from "../../src/dataplane/formats/csv.ts";
import { type DataPlaneError, runCopy } from "../../src/dataplane/index.ts";
import type { Row } from "../../src/dataplane/types.ts";
import { copyJob, fileStore, mariaDatabase, mariaStore, readOutput } from "./helpers.ts";

let server: MariaDbServer;
let share: string;
before(async () => {
  server = await startMariaDb();
  share = await mkdtemp(join(tmpdir(), "ferry-my-share-"));
});
after(async () => {
  await server?.stop();
  await rm(share, { recursive: true, force: true });
});

const TYPES_TABLE = `
  CREATE TABLE t (
    id int PRIMARY KEY, i8 bigint, u8 bigint unsigned, n decimal(38,10), f float, d double,
    dt datetime(6), ts timestamp(6) NULL DEFAULT NULL, day date, tm time(3), b varbinary(16), s text,
    j json, flag tinyint(1), bit1 bit(1), e enum('a','b'), y year
  );
  INSERT INTO t VALUES
   (1, 9007199254740993, 18446744073709551615, 12345678901234567890.0123456789, 1.1, 1e-7,
    '2024-02-29 23:59:59.999999', '2024-03-10 01:02:03.456789', '2024-02-29', '-838:59:59.5', X'00FF10',
    'héllo, "世界"\\n🚀;', '{"a": [1, 2.5, "x"]}', 1, b'1', 'b', 2024),
   (2, -9223372036854775808, 0, -0.0000000001, 3.4e38, -1e308,
    '1000-01-01 00:00:00', '1970-01-01 00:00:01', '1000-01-01', '00:00:00', X'', '', '[]', 0, b'0', 'a', 1901),
   (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

const EXPECTED: (string | null)[][] = [
  [
    "1",
    "9007199254740993",
    "18446744073709551615",
    "12345678901234567890.0123456789",
    "1.1",
    "1e-7",
    "2024-02-29T23:59:59.999999",
    "2024-03-10T01:02:03.456789Z",
    "2024-02-29",
    "-838:59:59.500",
    "AP8Q",
    'héllo, "世界"\n🚀;',
    '{"a": [1, 2.5, "x"]}',
    "1",
    "true",
    "b",
    "2024",
  ],
  [
    "2",
    "-9223372036854775808",
    "0",
    "-0.0000000001",
    "3.4e+38",
    "-1e+308",
    "1000-01-01T00:00:00",
    "1970-01-01T00:00:01Z",
    "1000-01-01",
    "00:00:00.000",
    "",
    "",
    "[]",
    "0",
    "false",
    "a",
    "1901",
  ],
  ["3", null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null],
];

describe("MariaDB types are mapped faithfully", () => {
  let db: Awaited<ReturnType<typeof mariaDatabase>>;
  before(async () => {
    db = await mariaDatabase(server);
    await db.conn.query(TYPES_TABLE);
  });
  after(() => db.conn.end());

  const copyTo = async (format: "Csv" | "JsonLines" | "Parquet") => {
    const job = copyJob(
      { dataStoreRef: { name: "my" }, table: "t" },
      { format, compression: format === "Parquet" ? "Snappy" : "None" },
    );
    await runCopy({ job, source: mariaStore(server, db.name), sink: fileStore(share), attempt: 1 });
    return { job, out: await readOutput(fileStore(share), job.spec.sink.path) };
  };
  const byId = (rows: (string | null)[][]) => [...rows].sort((a, b) => Number(a[0]) - Number(b[0]));

  test("CSV: canonical text of every value", async () => {
    const { out } = await copyTo("Csv");
    assert.deepEqual(byId(out.rows), EXPECTED);
    assert.deepEqual(
      out.manifest.schema.map((c) => `${c.name}:${c.kind}`),
      [
        "id:int32",
        "i8:int64",
        "u8:decimal",
        "n:decimal",
        "f:float32",
        "d:float64",
        "dt:timestamp",
        "ts:timestamptz",
        "day:date",
        "tm:string",
        "b:binary",
        "s:string",
        "j:json",
        "flag:int32",
        "bit1:boolean",
        "e:string",
        "y:int32",
      ],
    );
  });

  test("JSON Lines: exact integers, decimals as strings, JSON embedded", async () => {
    const { job, out } = await copyTo("JsonLines");
    const text = await readFile(join(share, job.spec.sink.path, out.manifest.parts[0]!.file), "utf8");
    const line = text.split("\n").find((l) => l.startsWith('{"id":1,'))!;
    assert.match(
      line,
      /"i8":9007199254740993,"u8":"18446744073709551615","n":"12345678901234567890\.0123456789","f":1\.1,"d":1e-7,/,
    );
    assert.match(line, /"ts":"2024-03-10T01:02:03\.456789Z"/);
    assert.match(line, /"j":\{"a": \[1, 2\.5, "x"\]\}/);
    assert.match(line, /"bit1":true/);
  });

  test("Parquet: typed columns with exact values", async () => {
    const { out } = await copyTo("Parquet");
    assert.deepEqual(byId(out.rows), EXPECTED);
  });
});

describe("MariaDB partitions and errors", () => {
  test("partitions on datetime and decimal keys cover every row once", async () => {
    const db = await mariaDatabase(server);
    try {
      await db.conn.query(`CREATE TABLE p (id int, at datetime(3), v decimal(10,3));
        INSERT INTO p SELECT seq, TIMESTAMP '2023-06-01 00:00:00' + INTERVAL seq * 17 MINUTE, seq / 7 FROM seq_1_to_2000;
        INSERT INTO p VALUES (NULL, NULL, NULL)`);
      for (const column of ["at", "v", "id"]) {
        const source = new MysqlSource(mariaStore(server, db.name));
        const plan = await source.plan(
          { table: "p", partitioning: { mode: "Column", column, count: 5 } },
          {
            signal: new AbortController().signal,
            log: { debug() {}, info() {}, warn() {}, error() {} },
          },
        );
        assert.equal(plan.partitions.length, 5);
        const ids: string[] = [];
        for (const partition of plan.partitions) {
          const data = await source.read(plan, partition, {
            signal: new AbortController().signal,
            format: "Csv",
            csv: csvDialect(undefined),
            batchRows: 300,
          });
          assert.equal(data.kind, "rows");
          let n = 0;
          if (data.kind === "rows")
            for await (const batch of data.batches)
              for (const r of batch as Row[]) {
                ids.push(String(r[0]));
                n++;
              }
          assert.ok(n > 0, `partition ${partition.id} on ${column} holds rows`);
        }
        assert.equal(ids.length, 2001, column);
        assert.equal(new Set(ids).size, 2001, column);
      }
    } finally {
      await db.conn.end();
    }
  });

  test("bad password, no privilege, missing table", async () => {
    const db = await mariaDatabase(server);
    try {
      await db.conn.query("CREATE TABLE secret (id int)");
      await server.sql(`CREATE USER 'nobody'@'%' IDENTIFIED BY 'nobody-pw'`);
      const sink = fileStore(share);
      const job = (table: string) => copyJob({ dataStoreRef: { name: "my" }, table }, { format: "Csv" });
      const expectReason = async (promise: Promise<unknown>, reason: string) => {
        await assert.rejects(promise, (e: DataPlaneError) => {
          assert.equal(e.reason, reason, e.message);
          assert.equal(e.transient, false);
          assert.doesNotMatch(e.message, /nobody-pw|bad-pw/);
          return true;
        });
      };
      await expectReason(
        runCopy({ job: job("missing"), source: mariaStore(server, db.name), sink, attempt: 1 }),
        "TableNotFound",
      );
      await expectReason(
        runCopy({
          job: job("secret"),
          source: mariaStore(server, db.name, { username: "nobody", password: "bad-pw" }),
          sink,
          attempt: 1,
        }),
        "AuthenticationFailed",
      );
      await expectReason(
        runCopy({
          job: job("secret"),
          source: mariaStore(server, db.name, { username: "nobody", password: "nobody-pw" }),
          sink,
          attempt: 1,
        }),
        "PermissionDenied",
      );
    } finally {
      await db.conn.end();
    }
  });
});
