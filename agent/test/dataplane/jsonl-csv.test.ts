/**
 * JSON Lines straight from canonical CSV bytes (formats/jsonl-csv.ts) against the row path
 * (JsonLinesEncoder over the same values): the same bytes, whatever the chunk boundaries, and the
 * records it hashes sum to the rows' content checksum. Then on a real PostgreSQL: COPY's bytes and
 * the cursor's rows give the same file, and a JSON Lines copy holds the CSV copy's rows.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ContentChecksum, canonicalRecord } from "../../src/dataplane/checksum.ts";
import { JsonLinesEncoder } from "../../src/dataplane/formats/jsonl.ts";
import { CanonicalCsvJsonLinesEncoder } from "../../src/dataplane/formats/jsonl-csv.ts";
import type { Row, Schema } from "../../src/dataplane/types.ts";
import { valueFromText } from "../../src/dataplane/values.ts";
import { col, KINDS } from "./canonical-values.ts";
import { copyEveryKind, everyKindPostgres, readKBothWays, sortRows } from "./helpers.ts";

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
  const pg = everyKindPostgres();

  test("COPY's bytes and the cursor's rows make the same file", async () => {
    const { schema, parts } = await readKBothWays(pg.server, pg.database, "JsonLines");
    for (const part of parts) {
      const enc = new CanonicalCsvJsonLinesEncoder(schema);
      const a: Uint8Array[] = [];
      for await (const chunk of part.bytes) a.push(...enc.push(chunk));
      a.push(...enc.finish());
      const rowsEnc = new JsonLinesEncoder(schema);
      const b: Uint8Array[] = [];
      for await (const batch of part.batches) b.push(...rowsEnc.encode(batch));
      // One object a line, in whatever order each read returned them.
      const lines = (parts: Uint8Array[]) => Buffer.concat(parts).toString().split("\n").sort();
      assert.ok(enc.rows > 2000, `partition ${part.id}: ${enc.rows} rows`);
      assert.deepEqual(lines(a), lines(b));
    }
  });

  test("a JSON Lines copy holds the CSV copy's rows and content checksum", async () => {
    // The content checksums are of the records hashed during the copy, json columns included.
    for (const table of ["k", "nojson"]) await copyBoth(table);
  });

  async function copyBoth(table: string): Promise<void> {
    const copy = (format: "Csv" | "JsonLines") => copyEveryKind(pg, table, { format, compression: "None" });
    const csv = await copy("Csv");
    const jsonl = await copy("JsonLines");
    assert.equal(jsonl.r.output.rows, 5001);
    assert.equal(jsonl.r.output.contentChecksum, csv.r.output.contentChecksum, table);
    if (table === "k") return;
    assert.deepEqual(sortRows(jsonl.out.rows), sortRows(csv.out.rows));
    assert.equal(jsonl.out.contentChecksum, jsonl.r.output.contentChecksum);
  }
});
