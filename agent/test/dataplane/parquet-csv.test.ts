/**
 * Parquet straight from canonical CSV bytes (formats/parquet-csv.ts) against the row path
 * (ParquetEncoder over the same values): an independent reader (hyparquet) sees the same values and
 * statistics in both files, whatever the chunk boundaries of the byte stream, and the records it is
 * handed hash to the rows' content checksum. Then on a real PostgreSQL: COPY's bytes of every kind
 * but the floats, edge values included, read back exactly.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parquetMetadata, snappyUncompress } from "hyparquet";
import { ContentChecksum, canonicalRecord } from "../../src/dataplane/checksum.ts";
import { ParquetEncoder } from "../../src/dataplane/formats/parquet.ts";
import { CanonicalCsvParquetEncoder, civilDays } from "../../src/dataplane/formats/parquet-csv.ts";
import { snappyCompress } from "../../src/dataplane/formats/snappy.ts";
import type { Row, Schema } from "../../src/dataplane/types.ts";
import { dateToDays, float32Text, float64Text, valueFromText } from "../../src/dataplane/values.ts";
import { canonicalRow, col, dateText, KINDS, MAX_DAY, MIN_DAY, rowOf, SCHEMA } from "./canonical-values.ts";
import {
  checksumOf,
  copyEveryKind,
  everyKindPostgres,
  readKBothWays,
  readParquetRows,
  sortRows,
} from "./helpers.ts";

type Codec = "SNAPPY" | "GZIP" | "UNCOMPRESSED";

/** Every value of a file as hyparquet decodes it, physical integers kept exact. */
async function readRaw(data: Buffer): Promise<unknown[][]> {
  const rows = await readParquetRows(data, {
    timestampFromNanoseconds: (n: bigint) => n,
    stringFromBytes: (b: Uint8Array) => Buffer.from(b).toString("utf8"),
  });
  // Byte arrays as plain arrays, so Buffer and Uint8Array compare equal.
  return rows.map((r) => r.map((v) => (v instanceof Uint8Array ? [...v] : v)));
}

/** Per row group and column: the statistics a reader finds in the footer. */
function statistics(data: Buffer): unknown[][] {
  const meta = parquetMetadata(new Uint8Array(data).buffer);
  return meta.row_groups.map((g) =>
    g.columns.map((c) => {
      const s = c.meta_data!.statistics!;
      return {
        min: s.min_value,
        max: s.max_value,
        nulls: s.null_count,
        nans: (s as { nan_count?: bigint }).nan_count,
      };
    }),
  );
}

/** Bytes that do not compress. */
function noiseOf(n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24));
}

function csvOf(rows: (string | null)[][]): Buffer {
  return Buffer.from(rows.map((r) => `${canonicalRecord(r)}\n`).join(""));
}

function viaCsv(
  schema: Schema,
  csv: Buffer,
  cuts: number[],
  codec: Codec,
  rowGroupRows: number,
  parser: "wasm" | "js" = "wasm",
) {
  const sum = new ContentChecksum();
  const enc = new CanonicalCsvParquetEncoder(
    schema,
    { codec, rowGroupRows },
    (b, s, e) => sum.addRecord(b, s, e),
    parser,
  );
  const out = [...enc.start()];
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    // A fresh copy per chunk: the encoder must not rely on bytes it was handed earlier.
    out.push(...enc.push(Buffer.from(csv.subarray(at, cut))));
    at = cut;
  }
  out.push(...enc.push(Buffer.from(csv.subarray(at))));
  out.push(...enc.finish());
  return { data: Buffer.concat(out), checksum: sum.toString(), rows: enc.rows };
}

function viaRows(schema: Schema, rows: (string | null)[][], codec: Codec, rowGroupRows: number): Buffer {
  const enc = new ParquetEncoder(schema, { codec, rowGroupRows });
  const values: Row[] = rows.map((r) =>
    r.map((v, i) => (v === null ? null : valueFromText(schema[i]!.kind, v))),
  );
  return Buffer.concat([...enc.start(), ...enc.encode(values), ...enc.finish()]);
}

describe("Parquet from canonical CSV", () => {
  test("Snappy: any bytes come back from hyparquet's decompressor as they went in", () => {
    const check = (input: Uint8Array) => {
      const packed = snappyCompress(input);
      const back = new Uint8Array(input.length);
      snappyUncompress(packed, back);
      assert.ok(Buffer.from(back).equals(Buffer.from(input)), `${input.length} bytes`);
      return packed.length;
    };
    // Repetitive input spanning several 64 KiB blocks compresses; random input does not grow much.
    const text = Buffer.from('order 12345, priority "rush" customer 42\n'.repeat(5000));
    assert.ok(check(text) < text.length / 5);
    // More than one window of snappy.wasm (1 MiB), the last one partial.
    const long = Buffer.concat([...Array(13).fill(text), noiseOf(77_777)]);
    assert.ok(check(long) < long.length / 4);
    const noise = noiseOf(200_000);
    assert.ok(check(noise) < noise.length * 1.01);
    check(new Uint8Array(0));
    check(new Uint8Array(70_000));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.constantFrom(text.subarray(0, 100), new Uint8Array(90)),
          ),
          {
            maxLength: 40,
          },
        ),
        (parts) => {
          check(Buffer.concat(parts));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("days since the epoch agree with values.ts for every date from year 1 to 9999", () => {
    for (let d = MIN_DAY; d <= MAX_DAY; d += 1) {
      if (d % 997 !== 0 && d > MIN_DAY + 800 && d < MAX_DAY - 800) continue;
      const t = dateText(d);
      assert.equal(
        civilDays(Number(t.slice(0, 4)), Number(t.slice(5, 7)), Number(t.slice(8))),
        dateToDays(t),
        t,
      );
    }
  });

  test("a reader sees the row path's values and statistics, whatever the chunk boundaries", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(canonicalRow, { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom<Codec>("SNAPPY", "GZIP", "UNCOMPRESSED"),
        fc.integer({ min: 1, max: 25 }),
        async (rows, cutSeeds, codec, rowGroupRows) => {
          const csv = csvOf(rows);
          const cuts = cutSeeds.map((c) => c % (csv.length + 1));
          const fast = viaCsv(SCHEMA, csv, cuts, codec, rowGroupRows);
          const whole = viaCsv(SCHEMA, csv, [], codec, rowGroupRows);
          assert.ok(fast.data.equals(whole.data), "the same bytes whatever the chunks");
          assert.equal(fast.rows, rows.length);
          // The checksum is of the canonical text, whatever form COPY printed a float in.
          const canonical = rows.map((r) =>
            r.map((v, i) => {
              const kind = SCHEMA[i]!.kind;
              if (v === null || (kind !== "float32" && kind !== "float64")) return v;
              return kind === "float32" ? float32Text(Number(v)) : float64Text(Number(v));
            }),
          );
          assert.equal(fast.checksum, checksumOf(canonical));
          const slow = viaRows(SCHEMA, rows, codec, rowGroupRows);
          assert.deepEqual(await readRaw(fast.data), await readRaw(slow));
          assert.deepEqual(statistics(fast.data), statistics(slow));
        },
      ),
      { numRuns: 150 },
    );
  });

  // The kinds parquet-fields.wasm parses: all but the floats and binary.
  const WASM_KINDS = KINDS.filter((k) => !["float32", "float64", "binary"].includes(k.column.kind));
  const WASM_SCHEMA = WASM_KINDS.map((k) => k.column);

  test("parquet-fields.wasm writes the JavaScript parser's bytes, edge values and chunks included", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowOf(WASM_KINDS), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom<Codec>("SNAPPY", "UNCOMPRESSED"),
        fc.integer({ min: 1, max: 25 }),
        async (rows, cutSeeds, codec, rowGroupRows) => {
          const csv = csvOf(rows);
          const cuts = cutSeeds.map((c) => c % (csv.length + 1));
          const wasm = viaCsv(WASM_SCHEMA, csv, cuts, codec, rowGroupRows);
          const js = viaCsv(WASM_SCHEMA, csv, [], codec, rowGroupRows, "js");
          assert.ok(wasm.data.equals(js.data), "the same bytes both ways");
          assert.equal(wasm.rows, rows.length);
          assert.equal(wasm.checksum, js.checksum);
          assert.equal(wasm.checksum, checksumOf(rows));
          const slow = viaRows(WASM_SCHEMA, rows, codec, rowGroupRows);
          assert.deepEqual(await readRaw(wasm.data), await readRaw(slow));
          assert.deepEqual(statistics(wasm.data), statistics(slow));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("parquet-fields.wasm: runs its stages cannot hold at once, and records longer than a run", async () => {
    // 64 columns share the stages, so each has the least (64 KiB): a long text fills it, and 8,192
    // rows fill an int64 stage, fewer than a run holds.
    const schema: Schema = [
      col("id", "int64", { nullable: false }),
      col("text", "string"),
      col("day", "date"),
      ...Array.from({ length: 61 }, (_, i) => col(`n${i}`, "int32")),
    ];
    const long = (i: number) => {
      if (i === 7) return "y".repeat(2_500_000); // longer than a window of csv-records.ts
      if (i % 50 === 3) return `q,"`.repeat(23_000 + i); // quoted, and longer than a stage
      if (i % 10 === 1) return "x".repeat(20_000 + i); // a fourth does not fit beside three
      return `r${i}`;
    };
    const rows = Array.from({ length: 30_000 }, (_, i) => [
      String(i),
      i < 400 ? long(i) : i % 5 === 0 ? null : `t${i}`,
      i % 3 === 0 ? null : i === 5 ? "infinity" : "2024-02-29",
      ...Array.from({ length: 61 }, (_, k) => (k === i % 61 ? String(i) : null)),
    ]);
    const csv = csvOf(rows);
    const wasm = viaCsv(schema, csv, [300_000, 5_000_000], "SNAPPY", 100_000);
    const js = viaCsv(schema, csv, [], "SNAPPY", 100_000, "js");
    assert.ok(wasm.data.equals(js.data), "the same bytes both ways");
    assert.equal(wasm.rows, rows.length);
    assert.equal(wasm.checksum, js.checksum);
    const back = await readRaw(wasm.data);
    assert.equal(back.length, rows.length);
    assert.equal((back[7]![1] as string).length, 2_500_000);
    assert.equal(back[5]![2], dateToDays("infinity"));
    assert.deepEqual(statistics(wasm.data), statistics(viaRows(schema, rows, "SNAPPY", 100_000)));
  });

  test("large row groups: every value read back, NULL runs and byte bounds included", async () => {
    const schema: Schema = [
      col("id", "int64", { nullable: false }),
      col("sparse", "int32"),
      col("dense", "string"),
      col("flag", "boolean"),
    ];
    const rows = Array.from({ length: 30_000 }, (_, i) => [
      String(i * 1_000_003),
      i % 1000 < 300 || i % 7 === 0 ? null : String(-i),
      i >= 20_000 ? null : `v${i % 97},${"x".repeat(i % 50)}`,
      i % 3 === 0 ? null : i % 2 === 0 ? "true" : "false",
    ]);
    const csv = csvOf(rows);
    const fast = viaCsv(schema, csv, [1, 70_000, 70_001, 500_000], "SNAPPY", 8_192);
    const slow = viaRows(schema, rows, "SNAPPY", 8_192);
    assert.deepEqual(await readRaw(fast.data), await readRaw(slow));
    assert.deepEqual(statistics(fast.data), statistics(slow));
    const meta = parquetMetadata(new Uint8Array(fast.data).buffer);
    assert.deepEqual(
      meta.row_groups.map((g) => Number(g.num_rows)),
      [8192, 8192, 8192, 5424],
    );
    // A byte bound closes row groups of wide rows early.
    const enc = new CanonicalCsvParquetEncoder(schema, { codec: "SNAPPY", rowGroupBytes: 100_000 });
    const bytes = Buffer.concat([...enc.start(), ...enc.push(csv), ...enc.finish()]);
    const groups = parquetMetadata(new Uint8Array(bytes).buffer).row_groups.length;
    assert.ok(
      groups >= Math.floor(csv.length / 101_000) && groups <= Math.ceil(csv.length / 100_000),
      `groups: ${groups}`,
    );
  });

  test("float statistics: signed zeros and NaN as the row path writes them", async () => {
    const schema: Schema = [col("f", "float64"), col("r", "float32")];
    const rows = [
      ["0", "0"],
      ["1", "1.5"],
      ["-0", "-0"],
      ["0", "0"],
      ["NaN", "NaN"],
      ["NaN", "NaN"],
      ["-1e-07", "1e+15"],
    ];
    const fast = viaCsv(schema, csvOf(rows), [], "SNAPPY", 2).data;
    const slow = viaRows(schema, rows, "SNAPPY", 2);
    const stats = statistics(fast);
    assert.deepEqual(stats, statistics(slow));
    const first = stats[0]![0] as { min: number; max: number };
    assert.ok(Object.is(first.min, -0) && first.max === 1, "a zero min is -0");
    assert.equal((stats[2]![0] as { min?: number }).min, undefined, "NaN is no bound");
    // The values as the source printed them, zero signs included, both ways.
    const expected = rows.map(([f, r]) => [Number(f), Math.fround(Number(r))]);
    assert.deepEqual(await readRaw(fast), expected);
    assert.deepEqual(await readRaw(slow), expected);
  });

  test("a record with too few or too many fields, or an unparsable value, fails the encoder", () => {
    const schema: Schema = [col("a", "int32"), col("b", "string")];
    const run = (text: string) => {
      const enc = new CanonicalCsvParquetEncoder(schema, { codec: "SNAPPY" });
      enc.push(Buffer.from(text));
      enc.finish();
    };
    run('1,"x"\n2,\n');
    assert.throws(() => run("1\n"), /does not have 2 fields/);
    assert.throws(() => run("1,a,b\n"), /does not have 2 fields/);
    assert.throws(() => run("x1,a\n"), /not an integer/);
    assert.throws(() => run("99999999999,a\n"), /not a 32-bit integer/);
    const required: Schema = [col("a", "int32", { nullable: false })];
    assert.throws(() => {
      const enc = new CanonicalCsvParquetEncoder(required, { codec: "SNAPPY" });
      enc.push(Buffer.from("1\n\n"));
    }, /NULL in column a/);
  });
});

describe("Parquet from PostgreSQL's COPY", () => {
  const pg = everyKindPostgres();

  // k's bytea column leaves its records to parquet-csv.ts's parser; nobytes is parquet-fields.wasm's.
  for (const table of ["k", "nobytes"])
    test(`COPY's bytes and the cursor's rows make files a reader cannot tell apart (${table})`, async () => {
      const { schema, parts } = await readKBothWays(pg.server, pg.database, "Parquet", table);
      for (const part of parts) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of part.bytes) chunks.push(chunk);
        const encode = (parser: "wasm" | "js") => {
          const enc = new CanonicalCsvParquetEncoder(
            schema,
            { codec: "SNAPPY", rowGroupRows: 1000 },
            undefined,
            parser,
          );
          const a = [...enc.start()];
          for (const chunk of chunks) a.push(...enc.push(chunk));
          a.push(...enc.finish());
          return { file: Buffer.concat(a), rows: enc.rows };
        };
        const fast = encode("wasm");
        assert.ok(fast.file.equals(encode("js").file), "both parsers write the same bytes");
        const rowsEnc = new ParquetEncoder(schema, { codec: "SNAPPY", rowGroupRows: 1000 });
        const b = [...rowsEnc.start()];
        for await (const batch of part.batches) b.push(...rowsEnc.encode(batch));
        b.push(...rowsEnc.finish());
        const slowFile = Buffer.concat(b);
        assert.ok(fast.rows > 2000, `partition ${part.id}: ${fast.rows} rows`);
        assert.deepEqual(await readRaw(fast.file), await readRaw(slowFile));
        assert.deepEqual(statistics(fast.file), statistics(slowFile));
      }
    });

  // finite_nobytes: the fields parsed by parquet-fields.wasm, not parquet-csv.ts.
  for (const [compression, view] of [
    ["Snappy", "finite"],
    ["Gzip", "finite"],
    ["None", "finite"],
    ["Snappy", "finite_nobytes"],
  ] as const) {
    test(`a Parquet copy (${compression}, ${view}) holds the CSV copy's rows and content checksum`, async () => {
      const copy = (format: "Csv" | "Parquet") =>
        copyEveryKind(pg, view, { format, compression: format === "Parquet" ? compression : "None" });
      const csv = await copy("Csv");
      const parquet = await copy("Parquet");
      assert.equal(parquet.r.output.rows, 4999);
      assert.deepEqual(sortRows(parquet.out.rows), sortRows(csv.out.rows));
      assert.equal(parquet.r.output.contentChecksum, csv.r.output.contentChecksum);
      assert.equal(parquet.out.contentChecksum, parquet.r.output.contentChecksum);
    });
  }
});
