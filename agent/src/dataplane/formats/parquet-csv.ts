/**
 * Parquet straight from canonical CSV bytes (PostgreSQL's COPY of the canonical projection): each
 * record's fields are parsed where they lie in the chunk into the columns' PLAIN buffers
 * (parquet-columns.ts) — digits to integers, ISO text to days and microseconds, strings copied as
 * bytes — so no JS string, BigInt or row array is made per value. On the copy benchmark's table the
 * row path (rows of JS values through hyparquet-writer, parquet.ts) spent ~8 µs a row, mostly on
 * exactly those; parsing here took ~0.5 µs. Unless a column is a float or binary, the records are
 * parsed in WebAssembly instead (parquet-fields.wat, ~0.25 µs a row with moving the values into the
 * buffers), a run of them at a time, and only a record it leaves (a rare shape, or an error to
 * report) comes through this file's parser. A row group closes at
 * `rowGroupRows` rows or `rowGroupBytes` of CSV text (default 16 MiB), whichever comes first, so
 * the rows a partition holds stay a few tens of MiB, however wide they are.
 *
 * The values are those of the row path: the same conversions, from the same canonical text. Common
 * shapes are parsed here; anything else (a year beyond 9999 or BC, infinity, a zone other than Z,
 * more than 15 significant digits) goes through values.ts as a string, as the row path does, with
 * its errors. Floats are the one kind whose COPY text is not always its canonical text (COPY prints
 * 1e-07, the canonical text is 1e-7): a record whose float text differs is handed to `onRecord`
 * rewritten with the canonical text and that text's hash, so the content checksum is the row path's.
 */

import type { SchemaElement } from "hyparquet-writer";
import { murmur3x86_128 } from "../murmur3.ts";
import type { Column, ColumnKind, Schema } from "../types.ts";
import {
  dateToDays,
  decimalToUnscaled,
  float32Text,
  float64Text,
  timestampToMicros,
  timeToMicros,
} from "../values.ts";
import { CsvRecordSplitter, type RecordSink } from "./csv-records.ts";
import { type ParquetOptions, parquetElement } from "./parquet.ts";
import { type ColumnBuffer, ParquetColumnsWriter } from "./parquet-columns.ts";
import { DONE, FieldStages, LEFT, MAX_RUN } from "./parquet-fields.ts";

/** The kinds this encoder parses: every kind PostgreSQL's canonical projection yields. */
export const CSV_PARQUET_KINDS: ReadonlySet<ColumnKind> = new Set<ColumnKind>([
  "boolean",
  "int32",
  "int64",
  "decimal",
  "string",
  "binary",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "json",
  "uuid",
  "float32",
  "float64",
]);

// How a column's field is parsed.
const BOOL = 0;
const INT32 = 1;
const INT64 = 2;
const DEC32 = 3;
const DEC64 = 4;
const DEC_FIXED = 5;
const DATE = 6;
const TIME = 7;
const TIMESTAMP = 8;
const BYTES = 9;
const BASE64 = 10;
const FLOAT = 11;

const QUOTE = 0x22;
const COMMA = 0x2c;
const DOT = 0x2e;
const MINUS = 0x2d;
const PLUS = 0x2b;
const ZERO = 0x30;

/** Exact powers of ten (all below 2^53). */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** Beyond this many seconds from the epoch, microseconds are no longer exact doubles. */
const SAFE_SECONDS = 9_000_000_000;

const BASE64_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
})();

const utf8 = new TextDecoder();

function parseCode(column: Column, type: string | undefined): number {
  switch (column.kind) {
    case "boolean":
      return BOOL;
    case "int32":
      return INT32;
    case "int64":
      return INT64;
    case "decimal":
      if (type === "INT32") return DEC32;
      if (type === "INT64") return DEC64;
      if (type === "FIXED_LEN_BYTE_ARRAY") return DEC_FIXED;
      return BYTES;
    case "date":
      return DATE;
    case "time":
      return TIME;
    case "timestamp":
    case "timestamptz":
      return TIMESTAMP;
    case "binary":
      return BASE64;
    case "float32":
    case "float64":
      return FLOAT;
    case "string":
    case "json":
    case "uuid":
      return BYTES;
    default:
      throw new Error(`a ${column.kind} column cannot be encoded from canonical CSV`);
  }
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function civilDays(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Digits b[at, at+n) as a number, or -1 if one is not a digit. */
function digits(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = b[i]! - ZERO;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Canonical CSV records (checksum.ts: "," between fields, '"' quotes, NULL an empty unquoted
 * field, "\n" after each record) in, Parquet bytes out. `push` returns the bytes of the row groups
 * it completed, `finish` the rest and the footer; `onRecord` sees every record's bytes first (the
 * content checksum hashes them).
 */
export class CanonicalCsvParquetEncoder {
  private readonly writer: ParquetColumnsWriter;
  private readonly columns: ColumnBuffer[];
  private readonly codes: number[];
  private readonly scales: number[];
  private readonly width: number;
  private readonly splitter: CsvRecordSplitter;
  private readonly onRecord: RecordSink | undefined;
  private readonly rowGroupRows: number;
  private readonly rowGroupBytes: number;
  private out: Uint8Array[] = [];
  /** Float columns: the record's canonical text where it differs from the bytes, else null. */
  private readonly floatText: (string | null)[];
  private readonly floatStart: Int32Array;
  private readonly floatEnd: Int32Array;
  private readonly kinds: ColumnKind[];
  private readonly hasFloats: boolean;
  private rewritten = false;
  /** The date part of the last timestamp parsed (never matches before one is), and its days. */
  private readonly lastDate = new Uint8Array(10);
  private lastDays = 0;
  private scratch = Buffer.alloc(1024);
  /** parquet-fields.wasm's stages of these columns, when it parses every kind they hold. */
  private readonly stages: FieldStages | undefined;
  private groupRows = 0;
  private groupBytes = 0;
  rows = 0;

  /**
   * `parser` "js" parses every record here, never in parquet-fields.wasm (the tests compare both);
   * a schema with a float or binary column is always parsed here.
   */
  constructor(
    schema: Schema,
    options: ParquetOptions,
    onRecord?: RecordSink,
    parser: "wasm" | "js" = "wasm",
  ) {
    if (schema.length === 0) throw new Error("a Parquet file needs at least one column");
    const elements = schema.map(parquetElement);
    this.writer = new ParquetColumnsWriter(elements, options.codec);
    this.columns = this.writer.columns;
    this.codes = schema.map((c, i) => parseCode(c, elements[i]!.type));
    this.scales = schema.map((c) => c.scale ?? 0);
    this.width = schema.length;
    this.rowGroupRows = options.rowGroupRows ?? 100_000;
    this.rowGroupBytes = options.rowGroupBytes ?? 16 << 20;
    this.onRecord = onRecord;
    this.kinds = schema.map((c) => c.kind);
    this.hasFloats = this.codes.includes(FLOAT);
    this.floatText = schema.map(() => null);
    this.floatStart = new Int32Array(schema.length);
    this.floatEnd = new Int32Array(schema.length);
    if (parser === "wasm" && this.codes.every((code) => code <= BYTES)) {
      this.stages = new FieldStages(
        this.codes.map((code, i) => ({
          code,
          scale: this.scales[i]!,
          nullable: this.columns[i]!.nullable,
          size: stagedSize(elements[i]!),
        })),
      );
      this.splitter = new CsvRecordSplitter(
        '"',
        (b, start, end, hash) => this.onRecord?.(b, start, end, hash),
        (b, start, end) => this.run(b, start, end),
      );
    } else
      this.splitter = new CsvRecordSplitter('"', (b, start, end, hash) => this.record(b, start, end, hash));
  }

  start(): Uint8Array[] {
    return this.writer.start();
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this.splitter.push(chunk);
    return this.take();
  }

  /** The stream ended: its last record, the last row group, the footer. */
  finish(): Uint8Array[] {
    this.splitter.end();
    this.out.push(...this.writer.finish());
    return this.take();
  }

  private take(): Uint8Array[] {
    const out = this.out;
    if (out.length > 0) this.out = [];
    return out;
  }

  /**
   * Records b[start, end) (each but the last ending in "\n"), already handed to `onRecord`, parsed
   * by parquet-fields.wasm; a record it leaves, or one longer than it takes, is parsed here.
   */
  private run(b: Uint8Array, start: number, end: number): void {
    if (end - start > MAX_RUN) {
      // Longer than a window: one record, joined across chunks.
      this.fields(b, start, end);
      this.counted(end - start);
      return;
    }
    const stages = this.stages!;
    stages.load(b, start, end);
    const n = end - start;
    let p = 0;
    for (;;) {
      const status = stages.parse(
        p,
        n,
        this.rowGroupRows - this.groupRows,
        this.rowGroupBytes - this.groupBytes,
      );
      const rows = stages.drain(this.columns);
      this.rows += rows;
      this.groupRows += rows;
      this.groupBytes += stages.bytes;
      this.closeFullGroup();
      p = stages.pos;
      if (status === DONE) return;
      if (status === LEFT) {
        const e = recordEnd(b, start + p, end);
        this.fields(b, start + p, e);
        this.counted(e - start - p);
        p = e + 1 - start;
      }
    }
  }

  /** One record, b[start, end) without its "\n". */
  private record(b: Uint8Array, start: number, end: number, hash: Uint32Array): void {
    if (!this.hasFloats) this.onRecord?.(b, start, end, hash);
    this.fields(b, start, end);
    if (this.hasFloats) this.hashRewritten(b, start, end, hash);
    this.counted(end - start);
  }

  /** A record of `bytes` bytes was parsed. */
  private counted(bytes: number): void {
    this.rows++;
    this.groupRows++;
    this.groupBytes += bytes;
    this.closeFullGroup();
  }

  private closeFullGroup(): void {
    if (this.groupRows >= this.rowGroupRows || this.groupBytes >= this.rowGroupBytes) {
      this.out.push(...this.writer.flushRowGroup());
      this.groupRows = 0;
      this.groupBytes = 0;
    }
  }

  /** The fields of the record b[start, end) into the columns. */
  private fields(b: Uint8Array, start: number, end: number): void {
    const last = this.width - 1;
    let p = start;
    for (let c = 0; c <= last; c++) {
      if (p < end && b[p] === QUOTE) {
        const s = p + 1;
        let q = s;
        let escaped = false;
        for (;;) {
          q = b.indexOf(QUOTE, q);
          if (q < 0 || q >= end) throw new Error("canonical CSV: unterminated quoted field");
          if (q + 1 < end && b[q + 1] === QUOTE) {
            escaped = true;
            q += 2;
            continue;
          }
          break;
        }
        this.field(c, b, s, q, escaped);
        p = q + 1;
      } else if (p === end || b[p] === COMMA) this.columns[c]!.appendNull();
      else p = this.unquoted(c, b, p, end);
      if (c < last) {
        if (p >= end || b[p] !== COMMA) throw this.widthError(b, start, end);
        p++;
      } else if (p !== end) throw this.widthError(b, start, end);
    }
  }

  /**
   * A non-empty unquoted field starting at p; returns where it ends (a comma or the record's end).
   * Strings are copied and integers parsed in the same pass that finds the end.
   */
  private unquoted(c: number, b: Uint8Array, p: number, end: number): number {
    const code = this.codes[c]!;
    if (code === BYTES) {
      const col = this.columns[c]!;
      const at = col.openBytes(end - p);
      const out = col.values;
      let q = p;
      let w = at;
      while (q < end) {
        const ch = b[q]!;
        if (ch === COMMA) break;
        out[w++] = ch;
        q++;
      }
      col.closeBytes(w - at);
      return q;
    }
    if (code === INT64 || code === INT32) {
      let q = p;
      const neg = b[q] === MINUS;
      if (neg) q++;
      const first = q;
      let v = 0;
      while (q < end) {
        const d = b[q]! - ZERO;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        q++;
      }
      const n = q - first;
      if (n > 0 && n <= 15 && (q === end || b[q] === COMMA)) {
        if (code === INT32) this.columns[c]!.appendInt32(this.int32(neg ? -v : v, b, p, q));
        else this.columns[c]!.appendInt64(neg ? -v : v);
        return q;
      }
    }
    let q = p;
    while (q < end && b[q] !== COMMA) q++;
    this.field(c, b, p, q, false);
    return q;
  }

  private int32(v: number, b: Uint8Array, s: number, e: number): number {
    if (v > 2147483647 || v < -2147483648) throw new Error(`not a 32-bit integer: ${text(b, s, e)}`);
    return v;
  }

  /** Hands on the record with each float field's canonical text, when one differs. */
  private hashRewritten(b: Uint8Array, start: number, end: number, hash: Uint32Array): void {
    if (!this.rewritten) {
      this.onRecord?.(b, start, end, hash);
      return;
    }
    this.rewritten = false;
    let at = start;
    let w = 0;
    let out = this.scratch;
    const need = (n: number) => {
      if (w + n > out.length) {
        const next = Buffer.alloc(Math.max(out.length * 2, w + n));
        out.copy(next, 0, 0, w);
        out = next;
        this.scratch = next;
      }
    };
    for (let c = 0; c < this.width; c++) {
      const t = this.floatText[c];
      if (t === null || t === undefined) continue;
      this.floatText[c] = null;
      const s = this.floatStart[c]!;
      need(s - at + t.length);
      out.set(b.subarray(at, s), w);
      w += s - at;
      w += out.write(t, w, "latin1");
      at = this.floatEnd[c]!;
    }
    need(end - at);
    out.set(b.subarray(at, end), w);
    w += end - at;
    murmur3x86_128(out, 0, w, hash);
    this.onRecord?.(out, 0, w, hash);
  }

  private widthError(b: Uint8Array, start: number, end: number): Error {
    const text = utf8.decode(b.subarray(start, Math.min(end, start + 200)));
    return new Error(`canonical CSV: a record does not have ${this.width} fields: ${JSON.stringify(text)}`);
  }

  private field(c: number, b: Uint8Array, s: number, e: number, escaped: boolean): void {
    const col = this.columns[c]!;
    switch (this.codes[c]) {
      case BOOL: {
        const n = e - s;
        const t =
          (n === 4 && b[s] === 0x74 && b[s + 1] === 0x72 && b[s + 2] === 0x75 && b[s + 3] === 0x65) ||
          (n === 1 && (b[s] === 0x74 || b[s] === 0x31));
        col.appendBoolean(t);
        return;
      }
      case INT32: {
        const v = this.integer(b, s, e, 10);
        col.appendInt32(this.int32(Number.isNaN(v) ? Number.POSITIVE_INFINITY : v, b, s, e));
        return;
      }
      case INT64: {
        const v = this.integer(b, s, e, 15);
        if (!Number.isNaN(v)) col.appendInt64(v);
        else col.appendBigInt64(BigInt(text(b, s, e)));
        return;
      }
      case DEC32:
      case DEC64:
      case DEC_FIXED:
        this.decimal(col, this.codes[c]!, this.scales[c]!, b, s, e);
        return;
      case DATE: {
        if (e - s === 10 && b[s + 4] === MINUS && b[s + 7] === MINUS) {
          const y = digits(b, s, 4);
          const m = digits(b, s + 5, 2);
          const d = digits(b, s + 8, 2);
          if (y >= 0 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
            col.appendInt32(civilDays(y, m, d));
            return;
          }
        }
        col.appendInt32(dateToDays(text(b, s, e)));
        return;
      }
      case TIME: {
        const t = this.clock(b, s, e);
        if (t >= 0) col.appendInt64(t);
        else col.appendBigInt64(timeToMicros(text(b, s, e)));
        return;
      }
      case TIMESTAMP:
        this.timestamp(col, b, s, e);
        return;
      case BYTES:
        this.bytes(col, b, s, e, escaped);
        return;
      case BASE64:
        this.base64(col, b, s, e);
        return;
      case FLOAT:
        this.float(c, col, b, s, e);
        return;
    }
  }

  private float(c: number, col: ColumnBuffer, b: Uint8Array, s: number, e: number): void {
    const t = text(b, s, e);
    const v = Number(t);
    if (Number.isNaN(v) && t !== "NaN") throw new Error(`not a number: ${t}`);
    col.appendFloat(v);
    const canonical = this.kinds[c] === "float32" ? float32Text(v) : float64Text(v);
    if (canonical !== t) {
      this.floatText[c] = canonical;
      this.floatStart[c] = s;
      this.floatEnd[c] = e;
      this.rewritten = true;
    }
  }

  /** A decimal integer of at most `maxDigits` digits; NaN when longer (the caller decides). */
  private integer(b: Uint8Array, s: number, e: number, maxDigits: number): number {
    let i = s;
    const neg = b[i] === MINUS;
    if (neg || b[i] === PLUS) i++;
    const n = e - i;
    if (n > maxDigits) return Number.NaN;
    const v = n > 0 ? digits(b, i, n) : -1;
    if (v < 0) throw new Error(`not an integer: ${text(b, s, e)}`);
    return neg ? -v : v;
  }

  private decimal(col: ColumnBuffer, code: number, scale: number, b: Uint8Array, s: number, e: number): void {
    let i = s;
    const neg = b[i] === MINUS;
    if (neg || b[i] === PLUS) i++;
    let v = 0;
    let n = 0;
    let fraction = -1;
    let ok = i < e;
    for (; i < e; i++) {
      const ch = b[i]!;
      if (ch === DOT && fraction < 0) {
        fraction = 0;
        continue;
      }
      const d = ch - ZERO;
      if (d < 0 || d > 9) {
        ok = false;
        break;
      }
      v = v * 10 + d;
      n++;
      if (fraction >= 0) fraction++;
    }
    if (fraction < 0) fraction = 0;
    if (ok && n > 0 && fraction <= scale && n + scale - fraction <= 15) {
      const unscaled = v * POW10[scale - fraction]!;
      const x = neg ? -unscaled : unscaled;
      if (code === DEC32) col.appendInt32(x);
      else if (code === DEC64) col.appendInt64(x);
      else col.appendFixedDecimal(x);
      return;
    }
    const big = decimalToUnscaled(text(b, s, e), scale);
    if (code === DEC32) col.appendInt32(Number(big));
    else if (code === DEC64) col.appendBigInt64(big);
    else col.appendFixedDecimal(big);
  }

  /** "HH:MM:SS[.f]" at b[s, e) as microseconds, or -1 for any other shape. */
  private clock(b: Uint8Array, s: number, e: number): number {
    const n = e - s;
    if (n < 8 || b[s + 2] !== 0x3a || b[s + 5] !== 0x3a) return -1;
    const h = digits(b, s, 2);
    const m = digits(b, s + 3, 2);
    const sec = digits(b, s + 6, 2);
    if (h < 0 || m < 0 || sec < 0) return -1;
    let micros = 0;
    if (n > 8) {
      const f = n - 9;
      if (b[s + 8] !== DOT || f < 1 || f > 6) return -1;
      const frac = digits(b, s + 9, f);
      if (frac < 0) return -1;
      micros = frac * POW10[6 - f]!;
    }
    return (h * 3600 + m * 60 + sec) * 1_000_000 + micros;
  }

  /**
   * Days since the epoch of the "YYYY-MM-DD" at b[s], NaN if it is not one. Timestamps next to each
   * other mostly share their date: the last one is kept and compared instead of parsed.
   */
  private days(b: Uint8Array, s: number): number {
    const last = this.lastDate;
    let i = 0;
    while (i < 10 && b[s + i] === last[i]) i++;
    if (i === 10) return this.lastDays;
    const y = digits(b, s, 4);
    const mo = digits(b, s + 5, 2);
    const d = digits(b, s + 8, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31) return Number.NaN;
    const days = civilDays(y, mo, d);
    for (let k = 0; k < 10; k++) last[k] = b[s + k]!;
    this.lastDays = days;
    return days;
  }

  /** "YYYY-MM-DDTHH:MM:SS[.f][Z]"; anything else through timestampToMicros. */
  private timestamp(col: ColumnBuffer, b: Uint8Array, s: number, e: number): void {
    let end = e;
    if (b[end - 1] === 0x5a) end--; // Z
    if (end - s >= 19 && b[s + 4] === MINUS && b[s + 7] === MINUS && b[s + 10] === 0x54) {
      const days = this.days(b, s);
      const clock = this.clock(b, s + 11, end);
      if (!Number.isNaN(days) && clock >= 0) {
        const seconds = days * 86_400;
        if (seconds > -SAFE_SECONDS && seconds < SAFE_SECONDS) col.appendInt64(seconds * 1_000_000 + clock);
        else col.appendBigInt64(BigInt(seconds) * 1_000_000n + BigInt(clock));
        return;
      }
    }
    col.appendBigInt64(timestampToMicros(text(b, s, e)));
  }

  private bytes(col: ColumnBuffer, b: Uint8Array, s: number, e: number, escaped: boolean): void {
    const at = col.openBytes(e - s);
    const out = col.values;
    let w = at;
    if (escaped) {
      for (let i = s; i < e; i++) {
        const ch = b[i]!;
        out[w++] = ch;
        if (ch === QUOTE) i++;
      }
    } else if (e - s > 32) {
      out.set(b.subarray(s, e), at);
      w = at + (e - s);
    } else {
      for (let i = s; i < e; i++) out[w++] = b[i]!;
    }
    col.closeBytes(w - at);
  }

  private base64(col: ColumnBuffer, b: Uint8Array, s: number, e: number): void {
    let end = e;
    while (end > s && b[end - 1] === 0x3d) end--; // "=" padding
    const n = end - s;
    const at = col.openBytes(Math.floor((n * 3) / 4) + 3);
    const out = col.values;
    let w = at;
    let acc = 0;
    let bits = 0;
    for (let i = s; i < end; i++) {
      const v = BASE64_VALUE[b[i]!]!;
      if (v < 0) {
        // Not the base64 PostgreSQL prints: decode it the way the row path does.
        const bytes = Buffer.from(text(b, s, e), "base64");
        out.set(bytes, at);
        col.closeBytes(bytes.length);
        return;
      }
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[w++] = (acc >> bits) & 0xff;
      }
    }
    col.closeBytes(w - at);
  }
}

/** Bytes a value of this physical type takes in parquet-fields.wasm's stage (a BOOLEAN one), 0 if it varies. */
function stagedSize(element: SchemaElement): number {
  switch (element.type) {
    case "BOOLEAN":
      return 1;
    case "INT32":
      return 4;
    case "INT64":
      return 8;
    case "FIXED_LEN_BYTE_ARRAY":
      return element.type_length!;
    default:
      return 0;
  }
}

/** The "\n" ending the record at b[from] (outside quotes), or `end` if b[from, end) has none. */
function recordEnd(b: Uint8Array, from: number, end: number): number {
  let quoted = false;
  for (let i = from; i < end; i++) {
    const ch = b[i]!;
    if (ch === QUOTE) quoted = !quoted;
    else if (ch === 0x0a && !quoted) return i;
  }
  return end;
}

function text(b: Uint8Array, s: number, e: number): string {
  return utf8.decode(b.subarray(s, e));
}
