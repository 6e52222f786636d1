/**
 * JSON Lines straight from canonical CSV bytes (formats/jsonl-csv.ts) against the row path
 * (JsonLinesEncoder over the same values): the same bytes, whatever the chunk boundaries, and the
 * records it hashes sum to the rows' content checksum. Then on a real PostgreSQL: COPY's bytes and
 * the cursor's rows give the same file, and a JSON Lines copy holds the CSV copy's rows.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { type PostgresServer, startPostgres } from "../../../hack/src/services/index.ts";
import { CANONICAL_CSV, ContentChecksum, canonicalRecord } from "../../src/dataplane/checksum.ts";
import { copyFastPathEligible, PostgresSource } from "../../src/dataplane/connectors/postgres.ts";
import { JsonLinesEncoder } from "../../src/dataplane/formats/jsonl.ts";
import { CanonicalCsvJsonLinesEncoder } from "../../src/dataplane/formats/jsonl-csv.ts";
import { runCopy } from "../../src/dataplane/index.ts";
import type { PartitionPlan, Row, Schema } from "../../src/dataplane/types.ts";
import { valueFromText } from "../../src/dataplane/values.ts";
import { col, KINDS } from "./canonical-values.ts";
import { copyJob, fileStore, pgDatabase, postgresStore, readOutput, sortRows } from "./helpers.ts";

const pretty = fc.json({ maxDepth: 2 }).map((j) => JSON.stringify(JSON.parse(j), null, 1));
const CASES = [
  ...KINDS.filter((k) => !["float32", "float64", "json"].includes(k.column.kind)),
  // JSON as PostgreSQL prints it, and with line breaks (CR LF too), which the object must not keep.
  {
    column: col("j", "json"),
    value: fc.oneof(
      fc.json({ maxDepth: 2 }),
      pretty,
      pretty.map((t) => t.replaceAll("\n", "\r\n")),
    ),
  },
  // Every byte JSON escapes, beside the ones it does not.
  {
    column: col("ctl", "string"),
    value: fc.string({
      unit: fc.constantFrom(
        "\t",
        "\u0001",
        "\u001f",
        "\u007f",
        "\b",
        "\f",
        "\r",
        "\n",
        "a",
        "\\",
        '"',
        ",",
        "é",
        "\u2028",
      ),
    }),
  },
];
const SCHEMA: Schema = CASES.map((k) => k.column);
const row = fc.tuple(
  ...CASES.map((k) => (k.column.nullable ? fc.option(k.value, { freq: 4, nil: null }) : k.value)),
) as fc.Arbitrary<(string | null)[]>;

function viaRows(schema: Schema, rows: (string | null)[][]): Buffer {
  const values: Row[] = rows.map((r) =>
    r.map((v, i) => (v === null ? null : valueFromText(schema[i]!.kind, v))),
  );
  return Buffer.concat(new JsonLinesEncoder(schema).encode(values));
}

function viaCsv(schema: Schema, chunks: Uint8Array[]): { data: Buffer; checksum: string; rows: number } {
  const sum = new ContentChecksum();
  const enc = new CanonicalCsvJsonLinesEncoder(schema, (_b, _s, _e, hash) => sum.addHash(hash));
  const out = [...enc.start()];
  // A fresh copy per chunk: the encoder must not rely on bytes it was handed earlier.
  for (const c of chunks) out.push(...enc.push(Buffer.from(c)));
  out.push(...enc.finish());
  return { data: Buffer.concat(out), checksum: sum.toString(), rows: enc.rows };
}

describe("JSON Lines from canonical CSV", () => {
  test("the row path's bytes and checksum, whatever the chunk boundaries", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (rows, cutsRaw) => {
        const csv = Buffer.from(rows.map((r) => `${canonicalRecord(r)}\n`).join(""));
        const cuts = [...new Set(cutsRaw.map((c) => c % (csv.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of [...cuts, csv.length]) {
          chunks.push(csv.subarray(at, c));
          at = c;
        }
        const got = viaCsv(SCHEMA, chunks);
        assert.equal(got.data.toString(), viaRows(SCHEMA, rows).toString());
        assert.equal(got.rows, rows.length);
        const want = new ContentChecksum();
        for (const r of rows) want.addFields(r);
        assert.equal(got.checksum, want.toString());
        // Every line is one JSON object with the columns in order.
        for (const line of got.data.toString().split("\n").slice(0, -1))
          assert.deepEqual(
            Object.keys(JSON.parse(line)),
            SCHEMA.map((c) => c.name),
          );
      }),
      { numRuns: 300 },
    );
  });

  test("a record with too few or too many fields fails the encoder; floats are refused", () => {
    const schema = [col("a", "int32"), col("b", "string")];
    assert.throws(() => viaCsv(schema, [Buffer.from("1\n")]), /does not have 2 fields/);
    assert.throws(() => viaCsv(schema, [Buffer.from("1,x,y\n")]), /does not have 2 fields/);
    assert.throws(() => viaCsv(schema, [Buffer.from('1,"open\n')]), /unterminated/);
    assert.throws(() => new CanonicalCsvJsonLinesEncoder([col("f", "float64")]), /float64 is not written/);
    assert.equal(
      viaCsv(schema, [Buffer.from('1,"a ""b"", c"\n,')]).data.toString(),
      '{"a":1,"b":"a \\"b\\", c"}\n{"a":null,"b":null}\n',
    );
  });
});

describe("JSON Lines from PostgreSQL's COPY", () => {
  let server: PostgresServer;
  let share: string;
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  before(async () => {
    server = await startPostgres();
    share = await mkdtemp(join(tmpdir(), "ferry-jsonl-share-"));
    db = await pgDatabase(server);
    await db.client.query(`
      CREATE TABLE k (
        id int PRIMARY KEY, i2 smallint, i8 bigint, n12 numeric(12,2), nu numeric, ts timestamp,
        tstz timestamptz, dt date, tm time, b bytea, s text, j jsonb, js json, u uuid, flag boolean
      );
      INSERT INTO k VALUES
       (1, 32767, 9223372036854775807, 9999999999.99, 123456789012345678901234567890.5,
        '2024-02-29 23:59:59.999999', '2024-03-10 01:02:03.456789+05:30', '2024-02-29', '23:59:59.999999',
        '\\x00ff10', E'héllo, "世界"\\n🚀;\\r\\n''\\t\\\\ \\x01', '{"a": [1, 2.5, "x\\ny"]}', E'{"b" :\\n "c,d"}',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
       (2, -32768, -9223372036854775808, -9999999999.99, 'NaN', '1969-12-31 23:59:59.5', '1900-01-01 00:00:00+00',
        '1969-12-31', '00:00:00', '\\x', '', '[]', '""', '00000000-0000-0000-0000-000000000000', false),
       (3, 0, 0, 0, 0, 'infinity', '-infinity', 'infinity', '24:00:00', '\\xdeadbeef', ',', 'null', 'null',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', true),
       (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      INSERT INTO k (id, ts, tstz, dt) VALUES (0, '0044-03-15 12:00:00.25 BC', '0044-03-15 12:00:00+00 BC', '0044-03-15 BC');
      INSERT INTO k SELECT g, g % 100, g::bigint * 1000003, g / 7.0, g, timestamp '2024-01-01' + g * interval '1 minute',
        timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 seconds', date '2000-01-01' + g,
        time '00:00' + g * interval '1 second', int8send(g),
        CASE WHEN g % 5 = 0 THEN NULL ELSE 'row ' || g || CASE WHEN g % 7 = 0 THEN ', "q"' ELSE '' END END,
        jsonb_build_object('g', g), json_build_object('g', g), gen_random_uuid(), g % 3 = 0
      FROM generate_series(5, 3000) g;
      -- A reader re-prints embedded JSON (its spaces go): the file-level comparison leaves json out.
      CREATE VIEW nojson AS SELECT id, i2, i8, n12, nu, ts, tstz, dt, tm, b, s, u, flag FROM k;`);
  });
  after(async () => {
    await db?.client.end();
    await server?.stop();
    if (share) await rm(share, { recursive: true, force: true });
  });

  test("COPY's bytes and the cursor's rows make the same file", async () => {
    const source = new PostgresSource(postgresStore(server, db.name));
    const signal = new AbortController().signal;
    const plan: PartitionPlan = await source.plan(
      { table: "k", partitioning: { mode: "Column", column: "id", count: 2 } },
      { signal, log: { debug() {}, info() {}, warn() {}, error() {} } },
    );
    assert.ok(copyFastPathEligible(plan.schema, "JsonLines", { ...CANONICAL_CSV }));
    for (const partition of plan.partitions) {
      const context = { signal, format: "JsonLines" as const, batchRows: 777 };
      const fast = await source.read(plan, partition, { ...context, csv: { ...CANONICAL_CSV } });
      // A dialect the fast paths do not serve: the cursor's rows.
      const slow = await source.read(plan, partition, {
        ...context,
        csv: { ...CANONICAL_CSV, delimiter: ";" },
      });
      assert.equal(fast.kind, "csv");
      assert.equal(slow.kind, "rows");
      if (fast.kind !== "csv" || slow.kind !== "rows") return;
      const enc = new CanonicalCsvJsonLinesEncoder(plan.schema);
      const a: Uint8Array[] = [];
      for await (const chunk of fast.bytes) a.push(...enc.push(chunk));
      a.push(...enc.finish());
      const rowsEnc = new JsonLinesEncoder(plan.schema);
      const b: Uint8Array[] = [];
      for await (const batch of slow.batches) b.push(...rowsEnc.encode(batch));
      // One object a line, in whatever order each read returned them.
      const lines = (parts: Uint8Array[]) => Buffer.concat(parts).toString().split("\n").sort();
      assert.ok(enc.rows > 1000, `partition ${partition.id}: ${enc.rows} rows`);
      assert.deepEqual(lines(a), lines(b));
    }
  });

  test("a JSON Lines copy holds the CSV copy's rows and content checksum", async () => {
    // The content checksums are of the records hashed during the copy, json columns included.
    for (const table of ["k", "nojson"]) await copyBoth(table);
  });

  async function copyBoth(table: string): Promise<void> {
    const copy = async (format: "Csv" | "JsonLines") => {
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table,
          partitioning: { mode: "Column", column: "id", count: 3 },
        },
        { format, compression: "None" },
      );
      const r = await runCopy({
        job,
        source: postgresStore(server, db.name),
        sink: fileStore(share),
        attempt: 1,
      });
      return { r, out: await readOutput(fileStore(share), job.spec.sink.path) };
    };
    const csv = await copy("Csv");
    const jsonl = await copy("JsonLines");
    assert.equal(jsonl.r.output.rows, 3001);
    assert.equal(jsonl.r.output.contentChecksum, csv.r.output.contentChecksum, table);
    if (table === "k") return;
    assert.deepEqual(sortRows(jsonl.out.rows), sortRows(csv.out.rows));
    assert.equal(jsonl.out.contentChecksum, jsonl.r.output.contentChecksum);
  }
});
