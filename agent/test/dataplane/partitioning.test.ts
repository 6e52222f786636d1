/** Partition planning without a server: bounds, ranges, counts and the SQL of each dialect. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { mysqlDialect } from "../../src/dataplane/connectors/mysql.ts";
import { postgresDialect } from "../../src/dataplane/connectors/postgres.ts";
import { sqlServerDialect } from "../../src/dataplane/connectors/sqlserver.ts";
import type { DataPlaneError } from "../../src/dataplane/errors.ts";
import {
  chooseKey,
  keyToBound,
  partitionCount,
  planKeyPartitions,
  rangePredicate,
  rangesFromBounds,
  splitBounds,
  sqlWhere,
} from "../../src/dataplane/partitioning.ts";
import type { Column, KeyRange, PartitionPlan } from "../../src/dataplane/types.ts";

const col = (name: string, kind: Column["kind"], sourceType: string = kind): Column => ({
  name,
  kind,
  nullable: true,
  sourceType,
});

test("ranges cover the whole key line exactly once, for any min, max and count", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.bigInt({ min: 0n, max: 2n ** 40n }),
      fc.integer({ min: 1, max: 1024 }),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
      (min, span, count, probe) => {
        const bounds = splitBounds(min, min + span, count);
        assert.ok(bounds.length <= count - 1);
        for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i - 1]! < bounds[i]!);
        const ranges = rangesFromBounds(bounds);
        const inRange = (r: KeyRange) =>
          (r.lower === undefined || probe >= BigInt(r.lower)) &&
          (r.upper === undefined || probe < BigInt(r.upper));
        assert.equal(ranges.filter(inRange).length, 1);
        assert.equal(ranges.filter((r) => r.nulls).length, 1);
      },
    ),
  );
});

test("keys become integer bounds in their unit, rounded down", () => {
  assert.equal(keyToBound("integer", "-1.5", col("v", "decimal")), -2n);
  assert.equal(keyToBound("integer", "1e+20", col("v", "float64")), 100000000000000000000n);
  assert.equal(keyToBound("integer", "18446744073709551615", col("v", "decimal")), 18446744073709551615n);
  assert.equal(keyToBound("day", "1970-01-11", col("d", "date")), 10n);
  assert.equal(keyToBound("second", "1970-01-01 00:00:01.9+00", col("t", "timestamptz")), 1n);
  assert.equal(keyToBound("second", "1969-12-31 23:59:59.5", col("t", "timestamp")), -1n);
});

test("counts: Column uses count (default 8); Auto sizes from estimates, capped by count", () => {
  const schema = [col("id", "int64")];
  assert.equal(partitionCount({ schema, spec: { mode: "Column", column: "id" }, stats: {} }), 8);
  assert.equal(partitionCount({ schema, spec: { mode: "Auto", count: 10 }, stats: { rows: 5_500_000 } }), 6);
  assert.equal(partitionCount({ schema, spec: { mode: "Auto", count: 4 }, stats: { rows: 5_500_000 } }), 4);
  assert.equal(partitionCount({ schema, spec: { mode: "Auto" }, stats: { rows: 10, bytes: 2 ** 30 } }), 4);
  assert.equal(partitionCount({ schema, spec: { mode: "None" }, stats: { rows: 1e9 } }), 1);
});

test("a plan of a small key range has no more partitions than keys; an empty table one partition", () => {
  const schema = [col("id", "int32")];
  const small = planKeyPartitions(
    { schema, spec: { mode: "Column", column: "id", count: 8 }, stats: { min: "1", max: "3" } },
    schema[0],
  );
  assert.deepEqual(
    small.partitions.map((p) => p.range),
    [
      { upper: "2", nulls: true },
      { lower: "2", upper: "3", nulls: false },
      { lower: "3", nulls: false },
    ],
  );
  const empty = planKeyPartitions(
    { schema, spec: { mode: "Column", column: "id", count: 8 }, stats: {} },
    schema[0],
  );
  assert.equal(empty.partitions.length, 1);
  assert.equal(empty.key, undefined);
});

test("choosing the key: unknown or unsplittable columns are permanent errors in Column mode", () => {
  const schema = [col("id", "int64"), col("name", "string")];
  assert.equal(chooseKey(schema, { mode: "Column", column: "ID" })?.name, "id");
  assert.throws(
    () => chooseKey(schema, { mode: "Column", column: "nope" }),
    (e: DataPlaneError) => e.reason === "PartitionColumnNotFound",
  );
  assert.throws(
    () => chooseKey(schema, { mode: "Column", column: "name" }),
    (e: DataPlaneError) => e.reason === "PartitionColumnType",
  );
  assert.equal(chooseKey(schema, { mode: "Auto" }, "name"), undefined);
  assert.equal(chooseKey(schema, { mode: "Auto" }, "id")?.name, "id");
});

test("range predicates in each dialect", () => {
  const range = { lower: "-5", upper: "100", nulls: true };
  assert.equal(
    rangePredicate(postgresDialect, col("id", "int64"), "integer", range),
    '("id" >= -5 AND "id" < 100 OR "id" IS NULL)',
  );
  assert.equal(
    rangePredicate(mysqlDialect, col("id", "int64"), "integer", { lower: "7", nulls: false }),
    "`id` >= 7",
  );
  assert.equal(
    rangePredicate(postgresDialect, col("t", "timestamptz"), "second", {
      lower: "0",
      upper: "60",
      nulls: false,
    }),
    '"t" >= to_timestamp(0) AND "t" < to_timestamp(60)',
  );
  assert.equal(
    rangePredicate(postgresDialect, col("d", "date"), "day", { upper: "3", nulls: false }),
    `"d" < (DATE '1970-01-01' + (3))`,
  );
  assert.equal(
    rangePredicate(mysqlDialect, col("t", "timestamp"), "second", { upper: "86400", nulls: false }),
    "`t` < (TIMESTAMP '1970-01-01 00:00:00' + INTERVAL (86400) SECOND)",
  );
  assert.equal(
    rangePredicate(sqlServerDialect, col("t", "timestamp", "datetime2"), "second", {
      lower: "-1",
      nulls: false,
    }),
    "[t] >= DATEADD(second, 86399, DATEADD(day, -1, CAST('1970-01-01T00:00:00' AS datetime2)))",
  );
  assert.equal(rangePredicate(postgresDialect, col("id", "int64"), "integer", { nulls: true }), undefined);
});

test("incremental windows quote the user's bounds as literals", () => {
  const plan: PartitionPlan = {
    version: 1,
    schema: [col("id", "int64"), col("updated", "timestamp")],
    watermark: { column: "updated", kind: "timestamp", after: "2024-01-01 00:00:00", upTo: "it's" },
    partitions: [],
  };
  assert.equal(
    sqlWhere(postgresDialect, plan, undefined),
    `"updated" > '2024-01-01 00:00:00' AND "updated" <= 'it''s'`,
  );
  assert.equal(
    sqlWhere(mysqlDialect, plan, undefined),
    "`updated` > CONVERT(X'323032342d30312d30312030303a30303a3030' USING utf8mb4) AND `updated` <= CONVERT(X'69742773' USING utf8mb4)",
  );
  assert.equal(
    sqlWhere(sqlServerDialect, { ...plan, watermark: { ...plan.watermark!, after: undefined } }, undefined),
    `[updated] <= N'it''s'`,
  );
  assert.equal(
    sqlWhere(
      postgresDialect,
      { ...plan, watermark: { column: "id", kind: "int64", empty: true } },
      undefined,
    ),
    "1 = 0",
  );
});
