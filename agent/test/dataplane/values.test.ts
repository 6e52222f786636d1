/** Canonical text, temporal and decimal conversions. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  canonicalTime,
  canonicalTimestamp,
  dateToDays,
  decimalToUnscaled,
  float32Text,
  rowFields,
  timestampToMicros,
} from "../../src/dataplane/values.ts";

test("timestamps become ISO 8601 with the fraction trimmed and UTC as Z", () => {
  assert.equal(canonicalTimestamp("2024-01-31 12:34:56.120000+00", true), "2024-01-31T12:34:56.12Z");
  assert.equal(canonicalTimestamp("2024-01-31 12:34:56", false), "2024-01-31T12:34:56");
  assert.equal(canonicalTimestamp("2024-01-31T12:34:56.000000+00:00", true), "2024-01-31T12:34:56Z");
  assert.equal(canonicalTimestamp("2024-01-31 12:34:56.5+05:30", true), "2024-01-31T12:34:56.5+05:30");
  assert.equal(canonicalTimestamp("infinity", true), "infinity");
  assert.equal(canonicalTimestamp("0044-03-15 12:00:00+00 BC", true), "0044-03-15T12:00:00Z BC");
  assert.equal(canonicalTime("23:59:59.999000"), "23:59:59.999");
});

test("temporal text to Parquet integers, zones and BC years included", () => {
  assert.equal(timestampToMicros("1970-01-01T00:00:00.000001Z"), 1n);
  assert.equal(timestampToMicros("1969-12-31T23:59:59.5Z"), -500_000n);
  assert.equal(timestampToMicros("2024-01-01T05:30:00+05:30"), timestampToMicros("2024-01-01T00:00:00Z"));
  assert.equal(timestampToMicros("0001-01-01T00:00:00Z BC"), timestampToMicros("0000-01-01T00:00:00Z"));
  assert.equal(dateToDays("1970-01-02"), 1);
  assert.equal(dateToDays("0099-01-01"), -683_368, "two-digit years are not 19xx");
  fc.assert(
    fc.property(
      fc.date({ min: new Date("0100-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
      (d) => {
        assert.equal(timestampToMicros(d.toISOString().replace(/\.000Z$/, "Z")), BigInt(d.getTime()) * 1000n);
      },
    ),
  );
});

test("decimals to unscaled integers exactly", () => {
  assert.equal(decimalToUnscaled("12.5", 2), 1250n);
  assert.equal(decimalToUnscaled("-0.0000000001", 10), -1n);
  assert.equal(decimalToUnscaled("12345678901234567890.0123456789", 10), 123456789012345678900123456789n);
  assert.equal(decimalToUnscaled("7", 0), 7n);
  assert.throws(() => decimalToUnscaled("1.234", 2));
});

test("float32 text is the shortest that reads back as the same float32", () => {
  assert.equal(float32Text(Math.fround(1.1)), "1.1");
  assert.equal(float32Text(Math.fround(3.4e38)), "3.4e+38");
  assert.equal(float32Text(Math.fround(-1e-7)), "-1e-7");
  fc.assert(
    fc.property(fc.float({ noNaN: true }), (f) =>
      assert.equal(Math.fround(Number(float32Text(f))), Math.fround(f)),
    ),
  );
});

test("a row's canonical fields: canonical texts, null for NULL", () => {
  assert.deepEqual(rowFields(["int64", "binary", "boolean"], [5n, Buffer.from("hi"), null]), [
    "5",
    "aGk=",
    null,
  ]);
});
