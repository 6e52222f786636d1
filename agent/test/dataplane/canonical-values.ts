/**
 * Canonical text of every column kind, as PostgreSQL's canonical projection prints it (COPY's
 * floats in any form that reads back the same), for the tests of the encoders that read canonical
 * CSV bytes (parquet-csv.test.ts, jsonl-csv.test.ts).
 */
import fc from "fast-check";
import { civilDays } from "../../src/dataplane/formats/parquet-csv.ts";
import type { Column, ColumnKind } from "../../src/dataplane/types.ts";
import { float32Text, float64Text } from "../../src/dataplane/values.ts";

export function col(name: string, kind: ColumnKind, extra: Partial<Column> = {}): Column {
  return { name, kind, nullable: true, sourceType: kind, ...extra };
}

// Canonical text of each kind, as PostgreSQL's canonical projection prints it.
const pad = (n: number | bigint, w: number) => String(n).padStart(w, "0");
const fraction = (micros: number) => (micros ? `.${pad(micros, 6).replace(/0+$/, "")}` : "");
const decimalText = (unscaled: bigint, scale: number) => {
  const neg = unscaled < 0n;
  const digits = pad(neg ? -unscaled : unscaled, scale + 1);
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return neg ? `-${text}` : text;
};
export const MAX_DAY = civilDays(9999, 12, 31);
export const MIN_DAY = civilDays(1, 1, 1);
export const dateText = (days: number) => {
  const d = new Date(0);
  d.setUTCDate(days + 1);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
};
const clockText = (micros: number) => {
  const s = Math.floor(micros / 1e6);
  return `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor(s / 60) % 60, 2)}:${pad(s % 60, 2)}${fraction(micros % 1e6)}`;
};
const special = fc.constantFrom(",", '"', '""', "\n", "\r\n", "é", "世界", "🚀", " ", "\\", "NULL", "");
const text = fc
  .array(fc.oneof(special, fc.string({ unit: "grapheme", maxLength: 12 })), { maxLength: 6 })
  .map((a) => a.join(""));

export const KINDS: { column: Column; value: fc.Arbitrary<string> }[] = [
  { column: col("b", "boolean"), value: fc.constantFrom("true", "false") },
  { column: col("i", "int32"), value: fc.integer().map(String) },
  {
    column: col("l", "int64", { nullable: false }),
    value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  },
  {
    column: col("d9", "decimal", { precision: 9, scale: 3 }),
    value: fc.bigInt({ min: -(10n ** 9n) + 1n, max: 10n ** 9n - 1n }).map((v) => decimalText(v, 3)),
  },
  {
    column: col("d18", "decimal", { precision: 18, scale: 2 }),
    value: fc
      .oneof(
        fc.bigInt({ min: -(10n ** 18n) + 1n, max: 10n ** 18n - 1n }),
        fc.bigInt({ min: -(10n ** 6n), max: 10n ** 6n }),
      )
      .map((v) => decimalText(v, 2)),
  },
  {
    column: col("d38", "decimal", { precision: 38, scale: 10 }),
    value: fc
      .oneof(
        fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }),
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
      )
      .map((v) => decimalText(v, 10)),
  },
  {
    column: col("d0", "decimal", { precision: 5, scale: 0 }),
    value: fc.integer({ min: -99999, max: 99999 }).map(String),
  },
  {
    column: col("nu", "decimal"),
    value: fc.oneof(
      fc.constant("NaN"),
      fc.bigInt().map((v) => decimalText(v, 7)),
    ),
  },
  { column: col("s", "string"), value: text },
  {
    column: col("bin", "binary"),
    value: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("base64")),
  },
  {
    column: col("day", "date"),
    value: fc.oneof(
      fc.integer({ min: MIN_DAY, max: MAX_DAY }).map(dateText),
      fc.constantFrom("infinity", "-infinity", "0044-03-15 BC", "12345-01-01"),
    ),
  },
  { column: col("tm", "time"), value: fc.integer({ min: 0, max: 86_400_000_000 - 1 }).map(clockText) },
  ...(["timestamp", "timestamptz"] as const).map((kind) => ({
    column: col(kind, kind),
    value: fc.oneof(
      fc
        .tuple(fc.integer({ min: MIN_DAY, max: MAX_DAY }), fc.integer({ min: 0, max: 86_400_000_000 - 1 }))
        .map(([d, t]) => `${dateText(d)}T${clockText(t)}${kind === "timestamptz" ? "Z" : ""}`),
      fc.constantFrom("infinity", "-infinity", "2024-01-01T05:30:00+05:30"),
    ),
  })),
  // Floats as COPY may print them (1e-07, 1e+15) or in any other form that reads back the same.
  ...(["float32", "float64"] as const).map((kind) => ({
    column: col(kind, kind),
    value: fc
      .tuple(
        kind === "float32" ? fc.float() : fc.double(),
        fc.constantFrom<(v: number) => string>(
          (v) => (kind === "float32" ? float32Text(v) : float64Text(v)),
          (v) => (kind === "float32" ? float32Text(v) : float64Text(v)).replace(/e([+-])(\d)$/, "e$10$2"),
          (v) => (Number.isFinite(v) ? v.toExponential() : String(v)),
        ),
      )
      .map(([v, print]) => print(v)),
  })),
  { column: col("j", "json"), value: fc.json({ maxDepth: 2 }) },
  { column: col("u", "uuid"), value: fc.uuid() },
];
export const SCHEMA = KINDS.map((k) => k.column);

/** A row of these kinds, as canonical texts (NULL where the column is nullable). */
export function rowOf(kinds: typeof KINDS): fc.Arbitrary<(string | null)[]> {
  return fc.tuple(
    ...kinds.map((k) => (k.column.nullable ? fc.option(k.value, { freq: 4, nil: null }) : k.value)),
  ) as fc.Arbitrary<(string | null)[]>;
}

/** A row of every kind. */
export const canonicalRow = rowOf(KINDS);
