/**
 * Encoders and parsers, without servers: CSV quoting exactly as RFC 4180 and PostgreSQL's COPY do
 * (property-tested round trip under random dialects and chunk boundaries), JSON Lines typing, and
 * Parquet files read back by an independent reader (hyparquet) with row groups and codecs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parquetMetadata } from "hyparquet";
import { CsvEncoder, CsvParser, csvDialect } from "../../src/dataplane/formats/csv.ts";
import {
  inferJsonSchema,
  JsonLinesEncoder,
  jsonRow,
  parseJsonLine,
} from "../../src/dataplane/formats/jsonl.ts";
import { ParquetEncoder } from "../../src/dataplane/formats/parquet.ts";
import { globToRegExp } from "../../src/dataplane/formats/read.ts";
import type { Column, Row, Schema } from "../../src/dataplane/types.ts";
import { decodeParquet } from "./helpers.ts";

const col = (name: string, kind: Column["kind"], extra: Partial<Column> = {}): Column => ({
  name,
  kind,
  nullable: true,
  sourceType: kind,
  ...extra,
});
const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");

describe("CSV", () => {
  test("quotes fields with delimiter, quote, CR or LF, doubles quotes, and quotes what equals the NULL text", () => {
    const schema = [col("a", "string"), col("b", "string"), col("c", "int64")];
    const enc = new CsvEncoder(schema, csvDialect(undefined));
    const out = text([
      ...enc.start(),
      ...enc.encode([
        ["plain", 'say "hi"', 42n],
        ["a,b", "line\nbreak", null],
        ["", "cr\r", -1n],
      ]),
    ]);
    assert.equal(out, 'a,b,c\nplain,"say ""hi""",42\n"a,b","line\nbreak",\n"","cr\r",-1\n');
  });

  test("dialect: delimiter, quote, NULL text, no header; \\. alone is quoted like COPY does", () => {
    const enc = new CsvEncoder(
      [col("x", "string")],
      csvDialect({ delimiter: "|", quote: "'", nullValue: "NULL", header: false }),
    );
    assert.equal(
      text(enc.encode([["it's"], [null], ["NULL"], ["a|b"], ["\\."]])),
      "'it''s'\nNULL\n'NULL'\n'a|b'\n'\\.'\n",
    );
  });

  test("values are written as their canonical text", () => {
    const schema = [
      col("b", "boolean"),
      col("f", "float64"),
      col("r", "float32"),
      col("bin", "binary"),
      col("t", "timestamptz"),
    ];
    const enc = new CsvEncoder(schema, csvDialect({ header: false }));
    assert.equal(
      text(enc.encode([[true, 1e-7, Math.fround(0.1), Buffer.from([0, 1, 255]), "2024-01-01T00:00:00.5Z"]])),
      "true,1e-7,0.1,AAH/,2024-01-01T00:00:00.5Z\n",
    );
  });

  test("parse(encode(rows)) = rows for any text, dialect and chunking", () => {
    const dialects = fc.record({
      delimiter: fc.constantFrom(",", ";", "\t", "|"),
      quote: fc.constantFrom('"', "'"),
      nullValue: fc.constantFrom("", "\\N", "NULL"),
    });
    const field = fc.option(
      fc.string({
        unit: fc.constantFrom(
          "a",
          "é",
          "世",
          "🚀",
          ",",
          ";",
          "\t",
          "|",
          '"',
          "'",
          "\n",
          "\r",
          " ",
          "\\",
          "N",
        ),
      }),
      { nil: null },
    );
    fc.assert(
      fc.property(
        dialects,
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.array(field, { minLength: 4, maxLength: 4 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 17 }),
        (d, width, rawRows, chunk) => {
          const rows = rawRows.map((r) => r.slice(0, width));
          const schema = Array.from({ length: width }, (_, i) => col(`c${i}`, "string"));
          const dialect = { ...d, header: false };
          const bytes = Buffer.concat(new CsvEncoder(schema, dialect).encode(rows));
          const parser = new CsvParser(dialect);
          const parsed: (string | null)[][] = [];
          for (let i = 0; i < bytes.length; i += chunk)
            parsed.push(...parser.push(bytes.subarray(i, i + chunk)));
          parsed.push(...parser.end());
          assert.deepEqual(parsed, rows);
        },
      ),
      { numRuns: 400 },
    );
  });

  test("the parser accepts CRLF record ends and a last record without newline", () => {
    const p = new CsvParser(csvDialect(undefined));
    assert.deepEqual(
      [...p.push('a,"b\r\nc"\r\nd,e'), ...p.end()],
      [
        ["a", "b\r\nc"],
        ["d", "e"],
      ],
    );
  });
});

describe("JSON Lines", () => {
  test("typed values, exact int64, keys escaped", () => {
    const schema = [
      col("i", "int64"),
      col("d", "decimal"),
      col("f", "float64"),
      col("b", "boolean"),
      col('we"ird', "string"),
      col("j", "json"),
      col("x", "binary"),
    ];
    const enc = new JsonLinesEncoder(schema);
    const line = text(
      enc.encode([
        [-(2n ** 63n), "0.10", Number.POSITIVE_INFINITY, false, "\u0000\n", '{"k":\n[1]}', Buffer.from("hi")],
      ]),
    );
    assert.equal(
      line,
      '{"i":-9223372036854775808,"d":"0.10","f":"Infinity","b":false,"we\\"ird":"\\u0000\\n","j":{"k": [1]},"x":"aGk="}\n',
    );
    JSON.parse(line);
  });

  test("reading JSON Lines infers columns and keeps big integers exact", () => {
    const lines = [
      '{"id": 9007199254740993, "v": 1.5, "ok": true, "o": {"a": 12345678901234567890}}',
      '{"id": 2, "v": 2, "s": "x"}',
    ];
    const parsed = lines.map(parseJsonLine);
    const schema = inferJsonSchema(parsed);
    assert.deepEqual(
      schema.map((c) => `${c.name}:${c.kind}`),
      ["id:int64", "v:float64", "ok:boolean", "o:json", "s:string"],
    );
    const index = new Map(schema.map((c, i) => [c.name, i]));
    assert.deepEqual(jsonRow(schema, parsed[0]!, index), [
      9007199254740993n,
      1.5,
      true,
      '{"a":12345678901234567890}',
      null,
    ]);
  });
});

describe("Parquet", () => {
  const schema: Schema = [
    col("id", "int64", { nullable: false }),
    col("amount", "decimal", { precision: 12, scale: 2 }),
    col("big", "decimal", { precision: 38, scale: 10 }),
    col("at", "timestamptz"),
    col("day", "date"),
    col("s", "string"),
    col("bin", "binary"),
    col("r", "float32"),
  ];
  const rows: Row[] = Array.from({ length: 2500 }, (_, i) => [
    BigInt(i) * 3_000_000_000_001n,
    i % 5 === 0 ? null : `${i}.${String(i % 100).padStart(2, "0")}`,
    i === 1 ? "-12345678901234567890.0123456789" : "0.0000000001",
    `2024-01-01T00:00:${String(i % 60).padStart(2, "0")}.${String(i).padStart(6, "0")}Z`.replace(
      /\.?0+Z$/,
      "Z",
    ),
    "2024-02-29",
    `row ${i} ✓`,
    Buffer.from([i % 256]),
    i / 4,
  ]);

  for (const codec of ["SNAPPY", "GZIP", "UNCOMPRESSED"] as const) {
    test(`${codec}: row groups of the given size, values read back exactly`, async () => {
      const enc = new ParquetEncoder(schema, { codec, rowGroupRows: 1000 });
      const chunks = [...enc.start()];
      for (let i = 0; i < rows.length; i += 300) chunks.push(...enc.encode(rows.slice(i, i + 300)));
      chunks.push(...enc.finish());
      // Bytes leave the encoder as row groups complete, not all at the end.
      assert.ok(chunks.length >= 4, `chunks: ${chunks.length}`);
      const data = Buffer.concat(chunks);
      const meta = parquetMetadata(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      assert.deepEqual(
        meta.row_groups.map((g) => Number(g.num_rows)),
        [1000, 1000, 500],
      );
      assert.equal(meta.row_groups[0]!.columns[0]!.meta_data!.codec, codec);
      const decoded = await decodeParquet(data, schema);
      const canonical = rows.map((r) => [
        String(r[0]),
        r[1] as string | null,
        r[2] as string,
        r[3] as string,
        "2024-02-29",
        r[5] as string,
        Buffer.from(r[6] as Uint8Array).toString("base64"),
        String(r[7]),
      ]);
      assert.deepEqual(decoded, canonical);
    });
  }

  test("an empty partition is a valid file with the schema", async () => {
    const enc = new ParquetEncoder(schema, { codec: "SNAPPY" });
    const data = Buffer.concat([...enc.start(), ...enc.encode([]), ...enc.finish()]);
    const meta = parquetMetadata(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    assert.equal(Number(meta.num_rows), 0);
    assert.equal(meta.schema.length, schema.length + 1);
  });
});

test("globs match within and across folders", () => {
  assert.ok(globToRegExp("in/*.csv").test("in/a.csv"));
  assert.ok(!globToRegExp("in/*.csv").test("in/sub/a.csv"));
  assert.ok(globToRegExp("in/**/*.csv.gz").test("in/sub/deep/a.csv.gz"));
  assert.ok(globToRegExp("in/**/*.csv.gz").test("in/a.csv.gz"));
  assert.ok(!globToRegExp("in/a?.csv").test("in/a.csv"));
});
