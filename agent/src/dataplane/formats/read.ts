/**
 * Reading CSV and JSON Lines files as sources (file share and blob connectors share this). The
 * format comes from the file name: .csv, .jsonl, .ndjson or .json, each optionally .gz. CSV files
 * have a header row and RFC 4180 quoting; their columns are text (a file carries no types). JSON
 * Lines columns are inferred from the first lines of the first file.
 */

import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { permanent } from "../errors.ts";
import type { Row, Schema } from "../types.ts";
import { CsvParser } from "./csv.ts";
import { inferJsonSchema, jsonRow, LineSplitter, parseJsonLine } from "./jsonl.ts";

export type FileKind = "csv" | "jsonl";

export function fileKind(name: string): { kind: FileKind; gzip: boolean } | undefined {
  const gzip = name.endsWith(".gz");
  const base = gzip ? name.slice(0, -3) : name;
  if (base.endsWith(".csv")) return { kind: "csv", gzip };
  if (/\.(jsonl|ndjson|json)$/.test(base)) return { kind: "jsonl", gzip };
  return undefined;
}

/** Glob over "/"-separated names: * and ? within a segment, ** across segments. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
      if (glob[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function decompressed(bytes: AsyncIterable<Uint8Array>, gzip: boolean): AsyncIterable<Uint8Array> {
  if (!gzip) return bytes;
  return Readable.from(bytes).pipe(createGunzip());
}

const CSV_FILE_DIALECT = { delimiter: ",", quote: '"', nullValue: "" };
const SAMPLE_LINES = 1000;

/** Columns of a file, from its header (CSV) or first lines (JSON Lines). */
export async function fileSchema(name: string, bytes: AsyncIterable<Uint8Array>): Promise<Schema> {
  const f = fileKind(name);
  if (!f)
    throw permanent(
      "UnsupportedFile",
      `${name}: only .csv, .jsonl, .ndjson and .json files (optionally .gz) can be read`,
    );
  const input = decompressed(bytes, f.gzip);
  if (f.kind === "csv") {
    const parser = new CsvParser(CSV_FILE_DIALECT);
    for await (const chunk of input) {
      const records = parser.push(chunk);
      if (records.length > 0) return csvHeaderSchema(records[0]!);
    }
    const rest = parser.end();
    if (rest.length > 0) return csvHeaderSchema(rest[0]!);
    throw permanent("EmptyFile", `${name}: the CSV file has no header row`);
  }
  const splitter = new LineSplitter();
  const samples = [];
  outer: for await (const chunk of input) {
    for (const line of splitter.push(chunk)) {
      if (line.trim() === "") continue;
      samples.push(parseJsonLine(line));
      if (samples.length >= SAMPLE_LINES) break outer;
    }
  }
  if (samples.length < SAMPLE_LINES)
    for (const line of splitter.end()) if (line.trim()) samples.push(parseJsonLine(line));
  return inferJsonSchema(samples);
}

function csvHeaderSchema(header: (string | null)[]): Schema {
  return header.map((name, i) => ({
    name: name ?? `column${i + 1}`,
    kind: "string",
    nullable: true,
    sourceType: "csv",
  }));
}

/** A file's rows, in batches, checked against the plan's columns. */
export async function* fileRows(
  name: string,
  bytes: AsyncIterable<Uint8Array>,
  schema: Schema,
  batchRows: number,
): AsyncGenerator<Row[]> {
  const f = fileKind(name);
  if (!f) throw permanent("UnsupportedFile", `${name}: not a CSV or JSON Lines file`);
  const input = decompressed(bytes, f.gzip);
  let batch: Row[] = [];
  if (f.kind === "csv") {
    const parser = new CsvParser(CSV_FILE_DIALECT);
    let header = true;
    const take = (records: (string | null)[][]) => {
      for (const r of records) {
        if (header) {
          header = false;
          if (r.length !== schema.length || r.some((n, i) => n !== schema[i]!.name)) {
            throw permanent(
              "SchemaMismatch",
              `${name}: its header differs from the first file's (${schema.map((c) => c.name).join(",")})`,
            );
          }
          continue;
        }
        if (r.length !== schema.length) {
          throw permanent(
            "MalformedFile",
            `${name}: a record has ${r.length} fields where the header has ${schema.length}`,
          );
        }
        batch.push(r);
      }
    };
    for await (const chunk of input) {
      take(parser.push(chunk));
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
    take(parser.end());
  } else {
    const splitter = new LineSplitter();
    const index = new Map(schema.map((c, i) => [c.name, i]));
    let lineNo = 0;
    const take = (lines: string[]) => {
      for (const line of lines) {
        lineNo++;
        if (line.trim() === "") continue;
        try {
          batch.push(jsonRow(schema, parseJsonLine(line), index));
        } catch (err) {
          throw permanent("MalformedFile", `${name}, line ${lineNo}: ${(err as Error).message}`);
        }
      }
    };
    for await (const chunk of input) {
      take(splitter.push(chunk));
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
    take(splitter.end());
  }
  if (batch.length > 0) yield batch;
}
