import type { CopySink, CsvDialect, Encoder, Schema } from "../types.ts";
import { CsvEncoder } from "./csv.ts";
import type { RecordSink } from "./csv-records.ts";
import { JsonLinesEncoder } from "./jsonl.ts";
import { CanonicalCsvJsonLinesEncoder } from "./jsonl-csv.ts";
import { ParquetEncoder, type ParquetOptions } from "./parquet.ts";
import { CanonicalCsvParquetEncoder } from "./parquet-csv.ts";

export { CsvEncoder, CsvFieldWriter, CsvParser, csvDialect } from "./csv.ts";
export { inferJsonSchema, JsonLinesEncoder, jsonRow, LineSplitter, parseJsonLine } from "./jsonl.ts";
export { CanonicalCsvJsonLinesEncoder } from "./jsonl-csv.ts";
export { ParquetEncoder, parquetElement } from "./parquet.ts";
export { CanonicalCsvParquetEncoder, CSV_PARQUET_KINDS } from "./parquet-csv.ts";

export interface OutputFormat {
  format: CopySink["format"];
  compression: NonNullable<CopySink["compression"]>;
  csv: CsvDialect;
  /** Parquet row group size, in rows. */
  rowGroupRows?: number;
}

/** Whether the bytes of a file go through gzip (text formats; Parquet compresses its chunks). */
export function gzipsFile(out: OutputFormat): boolean {
  return out.format !== "Parquet" && out.compression === "Gzip";
}

export function fileExtension(out: OutputFormat): string {
  const base = out.format === "Csv" ? "csv" : out.format === "JsonLines" ? "jsonl" : "parquet";
  return gzipsFile(out) ? `${base}.gz` : base;
}

export function contentType(out: OutputFormat): string {
  if (gzipsFile(out)) return "application/gzip";
  if (out.format === "Csv") return "text/csv; charset=utf-8";
  if (out.format === "JsonLines") return "application/x-ndjson; charset=utf-8";
  return "application/vnd.apache.parquet";
}

export function createEncoder(out: OutputFormat, schema: Schema): Encoder {
  switch (out.format) {
    case "Csv":
      return new CsvEncoder(schema, out.csv);
    case "JsonLines":
      return new JsonLinesEncoder(schema);
    case "Parquet":
      return new ParquetEncoder(schema, parquetOptions(out));
  }
}

function parquetOptions(out: OutputFormat): ParquetOptions {
  return {
    codec: out.compression === "Gzip" ? "GZIP" : out.compression === "None" ? "UNCOMPRESSED" : "SNAPPY",
    ...(out.rowGroupRows ? { rowGroupRows: out.rowGroupRows } : {}),
  };
}

/** An encoder of canonical CSV bytes (a source's fast path into a Parquet or JSON Lines sink). */
export interface CsvBytesEncoder {
  /** Records encoded so far. */
  readonly rows: number;
  start(): Uint8Array[];
  push(chunk: Uint8Array): Uint8Array[];
  finish(): Uint8Array[];
}

/**
 * The encoder of canonical CSV bytes into the sink's format, Parquet or JSON Lines; `onRecord`
 * sees each record's bytes and hash.
 */
export function createCsvBytesEncoder(
  out: OutputFormat,
  schema: Schema,
  onRecord?: RecordSink,
): CsvBytesEncoder {
  if (out.format === "JsonLines") return new CanonicalCsvJsonLinesEncoder(schema, onRecord);
  if (out.format === "Parquet") return new CanonicalCsvParquetEncoder(schema, parquetOptions(out), onRecord);
  throw new Error(`no encoder of CSV bytes into ${out.format}: CSV bytes are the output`);
}
