/**
 * Splitting a table into key ranges, without I/O: the SQL connectors gather min/max and size
 * estimates, these functions decide. Bounds are integers in the key's unit (KeyUnit), chosen by
 * Ferry, so they print exactly in every dialect and fit in a partition id. Ranges are half-open and
 * the outer ones unbounded, so every row — including rows inserted after planning and NULL keys (in
 * the first range) — falls in exactly one partition.
 */

import { permanent } from "./errors.ts";
import type {
  Column,
  KeyRange,
  KeyUnit,
  PartitioningSpec,
  PartitionPlan,
  PartitionSpec,
  Schema,
} from "./types.ts";
import { canonicalTimestamp, dateToDays, keyUnit, timestampToMicros } from "./values.ts";

export const DEFAULT_COLUMN_PARTITIONS = 8;
export const DEFAULT_AUTO_MAX_PARTITIONS = 32;
export const DEFAULT_TARGET_ROWS = 1_000_000;
export const DEFAULT_TARGET_BYTES = 256 << 20;

export function partitionId(index: number): string {
  return `p${String(index).padStart(5, "0")}`;
}

/** What a connector measured about the key column and the source. */
export interface KeyStats {
  /** Smallest and largest key, as the store prints them; absent when there are no rows. */
  min?: string;
  max?: string;
  rows?: number;
  bytes?: number;
}

function floorDecimal(text: string): bigint {
  const t = text.trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) {
    const n = Number(t);
    if (!Number.isFinite(n)) throw new Error(`cannot split on non-finite key ${t}`);
    return BigInt(Math.floor(n));
  }
  if (m[4] !== undefined) return BigInt(Math.floor(Number(t)));
  const int = BigInt(m[2] || "0");
  const hasFraction = /[1-9]/.test(m[3] ?? "");
  if (m[1] === "-") return hasFraction ? -int - 1n : -int;
  return int;
}

/** A key as the store printed it → its bound unit value, rounded down. */
export function keyToBound(unit: KeyUnit, text: string, column: Column): bigint {
  switch (unit) {
    case "integer":
      return floorDecimal(text);
    case "day":
      return BigInt(dateToDays(text));
    case "second": {
      const micros = timestampToMicros(canonicalTimestamp(text, column.kind === "timestamptz"));
      return micros >= 0n ? micros / 1_000_000n : -((-micros + 999_999n) / 1_000_000n);
    }
  }
}

/** Interior boundaries splitting [min, max] (both inclusive, in bound units) into `count` ranges. */
export function splitBounds(min: bigint, max: bigint, count: number): bigint[] {
  const span = max - min + 1n;
  const n = BigInt(Math.max(1, count));
  const parts = span < n ? span : n;
  const bounds: bigint[] = [];
  for (let i = 1n; i < parts; i++) bounds.push(min + (span * i) / parts);
  return bounds;
}

/** Ranges from interior boundaries: (-inf, b1) with NULLs, [b1, b2), ..., [bn, +inf). */
export function rangesFromBounds(bounds: readonly bigint[]): KeyRange[] {
  if (bounds.length === 0) return [{ nulls: true }];
  const ranges: KeyRange[] = [{ upper: String(bounds[0]), nulls: true }];
  for (let i = 1; i < bounds.length; i++) {
    ranges.push({ lower: String(bounds[i - 1]), upper: String(bounds[i]), nulls: false });
  }
  ranges.push({ lower: String(bounds.at(-1)), nulls: false });
  return ranges;
}

export interface PlanKeyInput {
  schema: Schema;
  spec: PartitioningSpec | undefined;
  /** For Auto: the key the connector proposes (a single-column primary key), if any. */
  autoKey?: string | undefined;
  stats: KeyStats;
  targetRows?: number;
  targetBytes?: number;
}

/** Resolves which column, if any, the job splits on; throws a permanent error for an unusable one. */
export function chooseKey(
  schema: Schema,
  spec: PartitioningSpec | undefined,
  autoKey?: string,
): Column | undefined {
  if (!spec || spec.mode === "None") return undefined;
  const name = spec.mode === "Column" ? spec.column : autoKey;
  if (!name) return undefined;
  const column =
    schema.find((c) => c.name === name) ?? schema.find((c) => c.name.toLowerCase() === name.toLowerCase());
  if (!column) {
    if (spec.mode === "Auto") return undefined;
    throw permanent(
      "PartitionColumnNotFound",
      `partitioning column ${name} is not a column of the source (columns: ${schema.map((c) => c.name).join(", ")})`,
    );
  }
  if (!keyUnit(column)) {
    if (spec.mode === "Auto") return undefined;
    throw permanent(
      "PartitionColumnType",
      `partitioning column ${column.name} is ${column.sourceType}; it must be numeric, a date or a timestamp`,
    );
  }
  return column;
}

/** How many partitions: the given count for Column; from size estimates, capped by count, for Auto. */
export function partitionCount(input: PlanKeyInput): number {
  const spec = input.spec;
  if (!spec || spec.mode === "None") return 1;
  if (spec.mode === "Column") return spec.count ?? DEFAULT_COLUMN_PARTITIONS;
  const max = spec.count ?? DEFAULT_AUTO_MAX_PARTITIONS;
  const byRows = Math.ceil((input.stats.rows ?? 0) / (input.targetRows ?? DEFAULT_TARGET_ROWS));
  const byBytes = Math.ceil((input.stats.bytes ?? 0) / (input.targetBytes ?? DEFAULT_TARGET_BYTES));
  return Math.max(1, Math.min(max, Math.max(byRows, byBytes)));
}

/** The partitions of a SQL source. */
export function planKeyPartitions(
  input: PlanKeyInput,
  key: Column | undefined,
): { key?: { column: string; unit: KeyUnit }; partitions: PartitionSpec[] } {
  const rows = input.stats.rows;
  const bytes = input.stats.bytes;
  const single = (): { partitions: PartitionSpec[] } => ({
    partitions: [
      {
        id: partitionId(0),
        index: 0,
        ...(rows !== undefined ? { estimatedRows: rows } : {}),
        ...(bytes !== undefined ? { estimatedBytes: bytes } : {}),
      },
    ],
  });
  if (!key || input.stats.min === undefined || input.stats.max === undefined) return single();
  const unit = keyUnit(key)!;
  const min = keyToBound(unit, input.stats.min, key);
  const max = keyToBound(unit, input.stats.max, key);
  const bounds = splitBounds(min, max, partitionCount(input));
  if (bounds.length === 0) return single();
  const ranges = rangesFromBounds(bounds);
  const n = ranges.length;
  return {
    key: { column: key.name, unit },
    partitions: ranges.map((range, index) => ({
      id: partitionId(index),
      index,
      range,
      ...(rows !== undefined ? { estimatedRows: Math.ceil(rows / n) } : {}),
      ...(bytes !== undefined ? { estimatedBytes: Math.ceil(bytes / n) } : {}),
    })),
  };
}

/** How a dialect writes an identifier and a bound of a key column. */
export interface SqlDialect {
  quote(identifier: string): string;
  bound(unit: KeyUnit, value: string, column: Column): string;
  /** A string literal (used for incremental bounds, compared with the column as the store converts). */
  literal(text: string): string;
}

/** The WHERE condition selecting one range of the key column, or undefined for all rows. */
export function rangePredicate(
  dialect: SqlDialect,
  key: Column,
  unit: KeyUnit,
  range: KeyRange,
): string | undefined {
  const c = dialect.quote(key.name);
  const parts: string[] = [];
  if (range.lower !== undefined) parts.push(`${c} >= ${dialect.bound(unit, range.lower, key)}`);
  if (range.upper !== undefined) parts.push(`${c} < ${dialect.bound(unit, range.upper, key)}`);
  if (parts.length === 0) return undefined;
  const cond = parts.join(" AND ");
  return range.nulls ? `(${cond} OR ${c} IS NULL)` : cond;
}

/** The WHERE condition of an incremental copy: after < watermark <= upTo. */
export function watermarkPredicate(
  dialect: SqlDialect,
  watermark: { column: string; after?: string | undefined; upTo?: string | undefined },
): string | undefined {
  const c = dialect.quote(watermark.column);
  const parts: string[] = [];
  if (watermark.after !== undefined) parts.push(`${c} > ${dialect.literal(watermark.after)}`);
  if (watermark.upTo !== undefined) parts.push(`${c} <= ${dialect.literal(watermark.upTo)}`);
  return parts.length ? parts.join(" AND ") : undefined;
}

/** Splits "schema.table" into identifiers (the CRD pattern allows only plain names and dots). */
export function tableParts(table: string): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$/.test(table)) {
    throw permanent(
      "InvalidTable",
      `table ${JSON.stringify(table)} is not a plain, optionally qualified name`,
    );
  }
  return table.split(".");
}

/** The WHERE of a partition: its key range and the incremental window. */
export function sqlWhere(
  dialect: SqlDialect,
  plan: PartitionPlan,
  partition: PartitionSpec | undefined,
): string {
  const parts: string[] = [];
  if (plan.watermark) {
    if (plan.watermark.upTo === undefined && plan.watermark.after === undefined && plan.watermark.empty) {
      parts.push("1 = 0");
    } else {
      const w = watermarkPredicate(dialect, plan.watermark);
      if (w) parts.push(w);
    }
  }
  if (partition?.range && plan.key) {
    const key = plan.schema.find((c) => c.name === plan.key!.column)!;
    const r = rangePredicate(dialect, key, plan.key.unit, partition.range);
    if (r) parts.push(r);
  }
  return parts.join(" AND ");
}
