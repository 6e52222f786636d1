/**
 * Parquet with typed columns, written with hyparquet-writer one row group at a time: rows are
 * buffered until a row group is full (a row count, or a byte estimate for wide rows), encoded, and
 * the bytes handed on at once, so memory holds at most one row group. Snappy (the default) or gzip
 * compresses each column chunk.
 *
 * Types: boolean BOOLEAN; int32 INT32; int64 INT64; float32 FLOAT; float64 DOUBLE; decimal with a
 * declared precision up to 38 DECIMAL (INT32, INT64 or FIXED_LEN_BYTE_ARRAY by precision), other
 * decimals as UTF8 text (exact); string and uuid UTF8; binary BYTE_ARRAY; json BYTE_ARRAY with the
 * JSON logical type; date DATE; time TIME(MICROS); timestamp TIMESTAMP(MICROS, not adjusted to
 * UTC); timestamptz TIMESTAMP(MICROS, adjusted to UTC). PostgreSQL's infinity timestamps become the
 * INT64 extremes; digits beyond microseconds (SQL Server's 100 ns) are dropped.
 *
 * This is the row path. A source that offers canonical CSV bytes (PostgreSQL's COPY) goes through
 * parquet-csv.ts instead, which writes the same schema, values and statistics column by column
 * without a JS value per field.
 */
import { gzipSync } from "node:zlib";
import { ByteWriter, ParquetWriter, type SchemaElement } from "hyparquet-writer";
import type { Column, Encoder, Row, Schema } from "../types.ts";
import { dateToDays, decimalToUnscaled, timestampToMicros, timeToMicros } from "../values.ts";

export interface ParquetOptions {
  codec: "SNAPPY" | "GZIP" | "UNCOMPRESSED";
  /** Rows per row group (default 100,000). */
  rowGroupRows?: number;
  /** Estimated bytes per row group before it is flushed early (default 64 MiB). */
  rowGroupBytes?: number;
}

function decimalBytes(precision: number): number {
  // Smallest two's-complement width holding 10^precision - 1.
  return Math.ceil((precision * Math.log2(10) + 1) / 8);
}

/** The Parquet schema element of a column. */
export function parquetElement(column: Column): SchemaElement {
  const name = column.name;
  const repetition_type: "OPTIONAL" | "REQUIRED" = column.nullable ? "OPTIONAL" : "REQUIRED";
  switch (column.kind) {
    case "boolean":
      return { name, repetition_type, type: "BOOLEAN" };
    case "int32":
      return { name, repetition_type, type: "INT32" };
    case "int64":
      return { name, repetition_type, type: "INT64" };
    case "float32":
      return { name, repetition_type, type: "FLOAT" };
    case "float64":
      return { name, repetition_type, type: "DOUBLE" };
    case "decimal": {
      const { precision, scale } = column;
      if (precision === undefined || scale === undefined || precision < 1 || precision > 38) {
        return {
          name,
          repetition_type,
          type: "BYTE_ARRAY",
          converted_type: "UTF8",
          logical_type: { type: "STRING" },
        };
      }
      const logical_type = { type: "DECIMAL" as const, precision, scale };
      const base = {
        name,
        repetition_type,
        converted_type: "DECIMAL" as const,
        precision,
        scale,
        logical_type,
      };
      if (precision <= 9) return { ...base, type: "INT32" };
      if (precision <= 18) return { ...base, type: "INT64" };
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: decimalBytes(precision) };
    }
    case "binary":
      return { name, repetition_type, type: "BYTE_ARRAY" };
    case "json":
      return { name, repetition_type, type: "BYTE_ARRAY", logical_type: { type: "JSON" } };
    case "date":
      return { name, repetition_type, type: "INT32", converted_type: "DATE", logical_type: { type: "DATE" } };
    case "time":
      return {
        name,
        repetition_type,
        type: "INT64",
        converted_type: "TIME_MICROS",
        logical_type: { type: "TIME", isAdjustedToUTC: false, unit: "MICROS" },
      };
    case "timestamp":
      return {
        name,
        repetition_type,
        type: "INT64",
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" },
      };
    case "timestamptz":
      return {
        name,
        repetition_type,
        type: "INT64",
        converted_type: "TIMESTAMP_MICROS",
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" },
      };
    default:
      return {
        name,
        repetition_type,
        type: "BYTE_ARRAY",
        converted_type: "UTF8",
        logical_type: { type: "STRING" },
      };
  }
}

type Convert = (v: Exclude<Row[number], null>) => unknown;

const utf8 = new TextEncoder();

function converter(column: Column, element: SchemaElement): Convert {
  switch (column.kind) {
    case "decimal":
      if (element.converted_type === "DECIMAL") {
        const scale = column.scale!;
        return (v) => decimalToUnscaled(v as string, scale);
      }
      return (v) => String(v);
    case "date":
      return (v) => dateToDays(v as string);
    case "time":
      return (v) => timeToMicros(v as string);
    case "timestamp":
    case "timestamptz":
      return (v) => timestampToMicros(v as string);
    case "json":
      return (v) => utf8.encode(v as string);
    case "float32":
    case "float64":
    case "int32":
    case "boolean":
    case "int64":
    case "binary":
      return (v) => v;
    default:
      return (v) => String(v);
  }
}

/** A ByteWriter whose flush hands the bytes written so far to the encoder's output. */
class ChunkWriter extends ByteWriter {
  chunks: Uint8Array[] = [];
  flush(): void {
    if (this.index > 0) this.chunks.push(Buffer.from(this.buffer.slice(0, this.index)));
    this.index = 0;
  }
  override finish(): void {
    this.flush();
  }
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

function isNegativeZero(v: unknown): boolean {
  return v === 0 && Object.is(v, -0);
}

function estimateBytes(v: Row[number]): number {
  if (v === null) return 1;
  if (typeof v === "string") return v.length + 8;
  if (v instanceof Uint8Array) return v.byteLength + 8;
  return 8;
}

export class ParquetEncoder implements Encoder {
  private readonly writer = new ChunkWriter(1 << 20);
  private readonly parquet: ParquetWriter;
  private readonly elements: SchemaElement[];
  private readonly converters: Convert[];
  private readonly columns: unknown[][];
  private buffered = 0;
  private bufferedBytes = 0;
  private readonly rowGroupRows: number;
  private readonly rowGroupBytes: number;

  private readonly schema: Schema;
  constructor(schema: Schema, options: ParquetOptions) {
    this.schema = schema;
    this.elements = schema.map(parquetElement);
    this.converters = schema.map((c, i) => converter(c, this.elements[i]!));
    this.columns = schema.map(() => []);
    this.rowGroupRows = options.rowGroupRows ?? 100_000;
    this.rowGroupBytes = options.rowGroupBytes ?? 64 << 20;
    this.parquet = new ParquetWriter({
      writer: this.writer,
      schema: [{ name: "root", num_children: schema.length }, ...this.elements],
      codec: options.codec,
      compressors: { GZIP: (input: Uint8Array) => gzipSync(input) },
      createdBy: "ferry",
    });
  }

  start(): Uint8Array[] {
    return this.writer.take();
  }

  encode(rows: Row[]): Uint8Array[] {
    const { columns, converters } = this;
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        columns[i]!.push(v === null || v === undefined ? null : converters[i]!(v));
        this.bufferedBytes += estimateBytes(v ?? null);
      }
      this.buffered++;
      if (this.buffered >= this.rowGroupRows || this.bufferedBytes >= this.rowGroupBytes) this.flushGroup();
    }
    return this.writer.take();
  }

  private flushGroup(): void {
    if (this.buffered === 0) return;
    const columnData = this.schema.map((c, i) => {
      const data = this.columns[i]!;
      // hyparquet-writer's dictionary keys values by SameValueZero: with both zeros in a row
      // group, every 0 would read back with the sign of the first. PLAIN keeps each one's.
      const plain = (c.kind === "float32" || c.kind === "float64") && data.some(isNegativeZero);
      return { name: c.name, data, nullable: c.nullable, ...(plain ? { encoding: "PLAIN" as const } : {}) };
    });
    void this.parquet.write({ columnData, rowGroupSize: this.buffered });
    for (const col of this.columns) col.length = 0;
    this.buffered = 0;
    this.bufferedBytes = 0;
  }

  finish(): Uint8Array[] {
    this.flushGroup();
    void this.parquet.finish();
    return this.writer.take();
  }
}
