/**
 * One canonical text per value, whatever the store and the format: CSV writes it, JSON Lines writes
 * it for kinds JSON has no type for, and the content checksum hashes it, so the checksum of an
 * output can be recomputed from the source with plain SQL text casts. Also the conversions from the
 * stores' own text to values, and from values to Parquet's physical types.
 */
import type { Column, ColumnKind, Value } from "./types.ts";

/** Shortest text that reads back as the same double; "-0", "NaN", "Infinity" kept. */
export function float64Text(v: number): string {
  if (Object.is(v, -0)) return "-0";
  return String(v);
}

/** Shortest text that reads back as the same float32 (what PostgreSQL prints for real). */
export function float32Text(v: number): string {
  if (!Number.isFinite(v) || v === 0) return float64Text(v);
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const text = f.toPrecision(p);
    if (Math.fround(Number(text)) === f) return String(Number(text));
  }
  return String(f);
}

/** The canonical text of a non-null value. */
export function valueText(kind: ColumnKind, v: Exclude<Value, null>): string {
  switch (kind) {
    case "boolean":
      return v ? "true" : "false";
    case "float64":
      return float64Text(v as number);
    case "float32":
      return float32Text(v as number);
    case "binary":
      return Buffer.from(v as Uint8Array).toString("base64");
    default:
      return typeof v === "string" ? v : String(v);
  }
}

/**
 * "2024-01-31 12:34:56.120000+00" (or with T, Z, +00:00) → "2024-01-31T12:34:56.12Z": ISO 8601,
 * fraction without trailing zeros, UTC as Z. Anything it does not recognise (infinity, BC dates) is
 * kept as the store printed it.
 */
export function canonicalTimestamp(text: string, withZone: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?( BC)?$/.exec(text);
  if (!m) return text;
  const fraction = trimFraction(m[3]);
  let zone = "";
  if (withZone) {
    const z = m[4] ?? "Z";
    zone = z === "Z" || /^[+-]00(:?00)?$/.test(z) ? "Z" : z;
  }
  return `${m[1]}T${m[2]}${fraction}${zone}${m[5] ?? ""}`;
}

/** "12:34:56.500000" → "12:34:56.5". */
export function canonicalTime(text: string): string {
  const m = /^(-?\d{2,}:\d\d:\d\d)(?:\.(\d+))?$/.exec(text);
  if (!m) return text;
  return `${m[1]}${trimFraction(m[2])}`;
}

function trimFraction(f: string | undefined): string {
  if (!f) return "";
  const t = f.replace(/0+$/, "");
  return t ? `.${t}` : "";
}

/** A row's canonical field texts (null for NULL): what the content checksum hashes (checksum.ts). */
export function rowFields(kinds: readonly ColumnKind[], row: readonly Value[]): (string | null)[] {
  const fields = new Array<string | null>(row.length);
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    fields[i] = v === null || v === undefined ? null : valueText(kinds[i]!, v);
  }
  return fields;
}

/** Converts canonical text (as a CSV field holds it) back to the value of a kind. */
export function valueFromText(kind: ColumnKind, text: string): Exclude<Value, null> {
  switch (kind) {
    case "boolean":
      return text === "true" || text === "t" || text === "1";
    case "int32":
    case "float32":
    case "float64":
      return Number(text);
    case "int64":
      return BigInt(text);
    case "binary":
      return Buffer.from(text, "base64");
    default:
      return text;
  }
}

// Parquet physical values.

const MICROS_PER_DAY = 86_400_000_000n;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

// Timestamps of one table share few dates: remember them (bounded) instead of building a Date each.
const dayCache = new Map<string, number>();

function cachedDays(key: string, year: number, month: number, day: number): number {
  let days = dayCache.get(key);
  if (days === undefined) {
    days = epochDays(year, month, day);
    if (dayCache.size >= 4096) dayCache.clear();
    dayCache.set(key, days);
  }
  return days;
}

function epochDays(year: number, month: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(0, 0, 0, 0);
  return Math.round(d.getTime() / 86_400_000);
}

function parseYear(text: string, bc: boolean): number {
  const y = Number(text);
  return bc ? 1 - y : y;
}

/** "YYYY-MM-DD" (optionally " BC") → days since 1970-01-01. */
export function dateToDays(text: string): number {
  const m = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/.exec(text);
  if (!m) {
    if (text === "infinity") return 2 ** 31 - 1;
    if (text === "-infinity") return -(2 ** 31);
    throw new Error(`not a date: ${text}`);
  }
  return cachedDays(text, parseYear(m[1]!, Boolean(m[4])), Number(m[2]), Number(m[3]));
}

function fractionMicros(f: string | undefined): bigint {
  if (!f) return 0n;
  return BigInt(f.slice(0, 6).padEnd(6, "0"));
}

/** Canonical timestamp text → microseconds since the epoch (digits beyond micros are dropped). */
export function timestampToMicros(text: string): bigint {
  if (text === "infinity") return INT64_MAX;
  if (text === "-infinity") return INT64_MIN;
  const m = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?( BC)?$/.exec(
    text,
  );
  if (!m) throw new Error(`not a timestamp: ${text}`);
  const days = BigInt(
    cachedDays(
      `${m[1]}-${m[2]}-${m[3]}${m[9] ?? ""}`,
      parseYear(m[1]!, Boolean(m[9])),
      Number(m[2]),
      Number(m[3]),
    ),
  );
  const seconds = BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]));
  let micros = days * MICROS_PER_DAY + seconds * 1_000_000n + fractionMicros(m[7]);
  const zone = m[8];
  if (zone && zone !== "Z") {
    const z = /^([+-])(\d\d):?(\d\d)?$/.exec(zone)!;
    const offset = BigInt((Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60) * 1_000_000n;
    micros = z[1] === "+" ? micros - offset : micros + offset;
  }
  return micros;
}

/** "HH:MM:SS[.f]" → microseconds since midnight. */
export function timeToMicros(text: string): bigint {
  const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`not a time of day: ${text}`);
  return BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n + fractionMicros(m[4]);
}

/** Exact decimal text → the unscaled integer at `scale` ("12.5", scale 2 → 1250n). */
export function decimalToUnscaled(text: string, scale: number): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m || (m[2] === "" && !m[3])) throw new Error(`not an exact decimal: ${text}`);
  const fraction = m[3] ?? "";
  if (fraction.length > scale && /[1-9]/.test(fraction.slice(scale))) {
    throw new Error(`decimal ${text} has more than ${scale} fractional digits`);
  }
  const digits = `${m[2] || "0"}${fraction.slice(0, scale).padEnd(scale, "0")}`;
  const v = BigInt(digits);
  return m[1] === "-" ? -v : v;
}

/** Days since the epoch → "YYYY-MM-DD" (for partition bounds and tests). */
export function daysToDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** Epoch seconds → "YYYY-MM-DD HH:MM:SS" (for partition bounds). */
export function secondsToTimestamp(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** True when a key column can be split into ranges, and the unit its bounds are expressed in. */
export function keyUnit(column: Column): "integer" | "day" | "second" | undefined {
  switch (column.kind) {
    case "int32":
    case "int64":
    case "decimal":
    case "float32":
    case "float64":
      return "integer";
    case "date":
      return "day";
    case "timestamp":
    case "timestamptz":
      return "second";
    default:
      return undefined;
  }
}
