/**
 * SQL Server: the SQL and type mapping are tested here without a server. Tests that need one run
 * when FERRY_TEST_MSSQL holds an ADO.NET connection string (Server=host,port;Database=db;User
 * Id=...;Password=...) and report themselves skipped otherwise.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  classifySqlServerError,
  sqlServerColumn,
  sqlServerConfig,
  sqlServerSelect,
  sqlServerValue,
} from "../../src/dataplane/connectors/sqlserver.ts";
import { runCopy, runStoredProcedure, testConnection } from "../../src/dataplane/index.ts";
import type { PartitionPlan, StoreConfig } from "../../src/dataplane/types.ts";
import { assertSameRows, checksumOf, copyJob, fileStore, readOutput } from "./helpers.ts";

describe("SQL Server without a server", () => {
  test("types map to kinds; exact text is projected where tedious would round", () => {
    const m = (declaration: string, extra = {}) =>
      sqlServerColumn({ name: "c", declaration, nullable: true, ...extra });
    assert.deepEqual(
      [
        "bit",
        "tinyint",
        "int",
        "bigint",
        "real",
        "float",
        "date",
        "time",
        "datetime2",
        "datetimeoffset",
        "uniqueidentifier",
        "varbinary",
        "nvarchar",
        "xml",
      ].map((d) => m(d).kind),
      [
        "boolean",
        "int32",
        "int32",
        "int64",
        "float32",
        "float64",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "uuid",
        "binary",
        "string",
        "string",
      ],
    );
    assert.deepEqual(m("decimal", { precision: 38, scale: 6 }), {
      name: "c",
      kind: "decimal",
      nullable: true,
      sourceType: "decimal",
      precision: 38,
      scale: 6,
    });
    assert.deepEqual(m("money"), {
      name: "c",
      kind: "decimal",
      nullable: true,
      sourceType: "money",
      precision: 19,
      scale: 4,
    });
    const plan: PartitionPlan = {
      version: 1,
      schema: [
        m("bigint"),
        { ...m("decimal", { precision: 10, scale: 2 }), name: "amount" },
        { ...m("datetimeoffset"), name: "at" },
        { ...m("datetime2"), name: "local" },
        { ...m("uniqueidentifier"), name: "u" },
        { ...m("int"), name: "k" },
      ],
      relation: "[dbo].[orders] AS ferry_src",
      key: { column: "k", unit: "integer" },
      watermark: { column: "local", kind: "timestamp", after: "2024-01-01" },
      partitions: [],
    };
    assert.equal(
      sqlServerSelect(plan, plan.relation!, {
        id: "p00001",
        index: 1,
        range: { lower: "10", upper: "20", nulls: false },
      }),
      "SELECT CONVERT(varchar(20), ferry_src.[c]) AS [c], CONVERT(varchar(64), ferry_src.[amount]) AS [amount], " +
        "CONVERT(varchar(40), SWITCHOFFSET(ferry_src.[at], '+00:00'), 127) AS [at], CONVERT(varchar(33), ferry_src.[local], 126) AS [local], " +
        "LOWER(CONVERT(varchar(36), ferry_src.[u])) AS [u], ferry_src.[k] AS [k] FROM [dbo].[orders] AS ferry_src " +
        "WHERE [local] > N'2024-01-01' AND [k] >= 10 AND [k] < 20",
    );
  });

  test("values from the projected text are canonical", () => {
    assert.equal(sqlServerValue("timestamptz", "2024-01-31T12:34:56.1200000Z"), "2024-01-31T12:34:56.12Z");
    assert.equal(sqlServerValue("timestamp", "2024-01-31T12:34:56"), "2024-01-31T12:34:56");
    assert.equal(sqlServerValue("int64", "9223372036854775807"), 9223372036854775807n);
    assert.equal(sqlServerValue("time", "12:00:00.5000000"), "12:00:00.5");
  });

  test("connection options follow tlsMode; a named instance needs no port", () => {
    const store = (host: string, tlsMode?: "Disable" | "Require" | "VerifyFull"): StoreConfig => ({
      type: "SqlServer",
      connection: { host, database: "db", ...(tlsMode ? { tlsMode } : {}) },
      credentials: { username: "u", password: "p" },
    });
    const a = sqlServerConfig(store("db.example.com"));
    assert.equal(a.port, 1433);
    assert.equal(a.options?.encrypt, true);
    assert.equal(a.options?.trustServerCertificate, true);
    const b = sqlServerConfig(store("db.example.com\\SQLEXPRESS", "VerifyFull"));
    assert.equal(b.server, "db.example.com");
    assert.equal(b.options?.instanceName, "SQLEXPRESS");
    assert.equal(b.port, undefined);
    assert.equal(b.options?.trustServerCertificate, false);
    assert.equal(sqlServerConfig(store("h", "Disable")).options?.encrypt, false);
  });

  test("errors by number and driver code", () => {
    const ctx = { what: "SQL Server h/db" };
    const e = (props: object) => classifySqlServerError(Object.assign(new Error("m"), props), ctx);
    assert.equal(e({ code: "ELOGIN", number: 18456 }).reason, "AuthenticationFailed");
    assert.equal(e({ number: 208 }).reason, "TableNotFound");
    assert.equal(e({ number: 229 }).reason, "PermissionDenied");
    assert.equal(e({ number: 1205 }).transient, true);
    assert.equal(
      e({ code: "ESOCKET", originalError: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) }).reason,
      "ConnectionRefused",
    );
  });
});

/** "Server=host,1433;Database=db;User Id=sa;Password=...;Encrypt=false" → a store. */
function storeFromConnectionString(cs: string): StoreConfig {
  const kv = new Map(
    cs
      .split(";")
      .filter(Boolean)
      .map((p) => {
        const i = p.indexOf("=");
        return [p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim()] as const;
      }),
  );
  const [host, port] = (kv.get("server") ?? kv.get("data source") ?? "localhost")
    .replace(/^tcp:/, "")
    .split(",");
  const encrypt = (kv.get("encrypt") ?? "true").toLowerCase();
  return {
    type: "SqlServer",
    connection: {
      host: host!,
      ...(port ? { port: Number(port) } : {}),
      database: kv.get("database") ?? kv.get("initial catalog") ?? "master",
      tlsMode:
        encrypt === "false"
          ? "Disable"
          : (kv.get("trustservercertificate") ?? "").toLowerCase() === "true"
            ? "Require"
            : "VerifyFull",
    },
    credentials: {
      username: kv.get("user id") ?? kv.get("uid") ?? "sa",
      password: kv.get("password") ?? kv.get("pwd") ?? "",
    },
  };
}

describe("SQL Server with a server (FERRY_TEST_MSSQL)", () => {
  const cs = process.env.FERRY_TEST_MSSQL;
  test("copies a table exactly, tests the connection, runs a procedure", async (t) => {
    if (!cs) {
      t.skip("set FERRY_TEST_MSSQL to an ADO.NET connection string to run against SQL Server");
      return;
    }
    const store = storeFromConnectionString(cs);
    const sql = (await import("mssql")).default;
    const { connectSqlServer } = await import("../../src/dataplane/connectors/sqlserver.ts");
    const pool = await connectSqlServer(store);
    const table = `ferry_t_${process.pid}`;
    const share = await mkdtemp(join(tmpdir(), "ferry-mssql-"));
    try {
      await pool.request().batch(`
        IF OBJECT_ID('${table}') IS NOT NULL DROP TABLE ${table};
        CREATE TABLE ${table} (id bigint, amount decimal(38,10), at datetimeoffset(7), s nvarchar(100), b varbinary(10), u uniqueidentifier);
        INSERT INTO ${table} SELECT TOP 5000 ROW_NUMBER() OVER (ORDER BY (SELECT 1)), 12345678901234567890.0123456789,
          '2024-03-10T01:02:03.4567891+05:30', N'héllo 世界', 0x00FF, '6F9619FF-8B86-D011-B42D-00C04FC964FF'
          FROM sys.all_objects a CROSS JOIN sys.all_objects b;
        IF OBJECT_ID('ferry_proc') IS NOT NULL DROP PROCEDURE ferry_proc;
        EXEC('CREATE PROCEDURE ferry_proc @n int, @doubled int OUTPUT AS BEGIN SET @doubled = @n * 2; SELECT @n AS n; RETURN 7; END');`);
      const job = copyJob(
        { dataStoreRef: { name: "ms" }, table, partitioning: { mode: "Column", column: "id", count: 4 } },
        { format: "Csv" },
      );
      const result = await runCopy({ job, source: store, sink: fileStore(share), attempt: 1 });
      const out = await readOutput(fileStore(share), job.spec.sink.path);
      assert.equal(out.rows.length, 5000);
      assert.deepEqual(out.rows[0]!.slice(1), [
        "12345678901234567890.0123456789",
        "2024-03-09T19:32:03.4567891Z",
        "héllo 世界",
        "AP8=",
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
      ]);
      assert.equal(result.output.contentChecksum, out.contentChecksum);
      assertSameRows(out.rows, out.rows);
      assert.equal(checksumOf(out.rows), out.contentChecksum);
      assert.equal((await testConnection({ store })).reason, "Connected");
      assert.equal(
        (
          await testConnection({
            store: { ...store, credentials: { ...store.credentials, password: "wrong" } },
          })
        ).reason,
        "AuthenticationFailed",
      );
      const r = await runStoredProcedure({
        store,
        call: {
          procedure: "ferry_proc",
          parameters: [
            { name: "n", type: "Int", value: 21 },
            { name: "doubled", type: "Int", direction: "Out" },
          ],
        },
      });
      assert.deepEqual(r.outputs, { doubled: "42" });
      assert.equal(r.returnValue, 7);
      assert.deepEqual(r.resultSets[0]!.rows, [["21"]]);
      void sql;
    } finally {
      await pool
        .request()
        .batch(`IF OBJECT_ID('${table}') IS NOT NULL DROP TABLE ${table}`)
        .catch(() => {});
      await pool.close();
      await rm(share, { recursive: true, force: true });
    }
  });
});
