/**
 * JSON Lines: one object per row, keys in column order, "\n" after each. JSON has numbers,
 * booleans and strings, so: booleans and int32 as JSON values; int64 as a number literal with every
 * digit (exact in the text; readers that parse into doubles lose precision beyond 2^53, readers
 * with 64-bit integers do not); floats as numbers, except NaN and the infinities, which JSON cannot
 * write, as strings; decimals as strings (exact, scale kept); binary as base64 strings; json columns
 * embedded as JSON; everything else as its canonical text.
 */
import { StringDecoder } from "node:string_decoder";
import type { Column, ColumnKind, Encoder, Row, Schema, Value } from "../types.ts";
import { float32Text, float64Text } from "../values.ts";

function jsonValue(kind: ColumnKind, v: Exclude<Value, null>): string {
  switch (kind) {
    case "boolean":
      return v ? "true" : "false";
    case "int32":
    case "int64":
      return String(v);
    case "float32":
    case "float64": {
      const n = v as number;
      const text = kind === "float32" ? float32Text(n) : float64Text(n);
      return Number.isFinite(n) ? text : JSON.stringify(text);
    }
    case "binary":
      return JSON.stringify(Buffer.from(v as Uint8Array).toString("base64"));
    case "json":
      // Valid JSON has line breaks only as whitespace: a space keeps the record on one line.
      return (v as string).replace(/[\r\n]/g, " ");
    default:
      return JSON.stringify(String(v));
  }
}

export class JsonLinesEncoder implements Encoder {
  private readonly keys: string[];
  private readonly kinds: ColumnKind[];
  constructor(schema: Schema) {
    this.keys = schema.map((c, i) => `${i === 0 ? "{" : ","}${JSON.stringify(c.name)}:`);
    this.kinds = schema.map((c) => c.kind);
  }

  start(): Uint8Array[] {
    return [];
  }

  encode(rows: Row[]): Uint8Array[] {
    let out = "";
    const { keys, kinds } = this;
    for (const row of rows) {
      if (row.length === 0) {
        out += "{}\n";
        continue;
      }
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        out += keys[i]! + (v === null || v === undefined ? "null" : jsonValue(kinds[i]!, v));
      }
      out += "}\n";
    }
    return [Buffer.from(out)];
  }

  finish(): Uint8Array[] {
    return [];
  }
}

type Parsed = null | boolean | string | { int: string } | { float: number } | { json: string };

/** Parses one JSON Lines record keeping integer literals exact and nested values as JSON text. */
export function parseJsonLine(line: string): Map<string, Parsed> {
  const reviver = (_key: string, value: unknown, context?: { source?: string }) => {
    if (typeof value === "number") {
      const src = context?.source ?? String(value);
      return /^-?\d+$/.test(src) ? { int: src } : { float: value };
    }
    return value;
  };
  const obj = JSON.parse(line, reviver as (k: string, v: unknown) => unknown) as unknown;
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new Error("not a JSON object");
  const out = new Map<string, Parsed>();
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) out.set(k, toParsed(v));
  return out;
}

function toParsed(v: unknown): Parsed {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "object" && v !== null && ("int" in v || "float" in v) && Object.keys(v).length === 1) {
    return v as Parsed;
  }
  return { json: JSON.stringify(v, (_k, x) => unwrapNumber(x)) };
}

function unwrapNumber(x: unknown): unknown {
  if (x && typeof x === "object" && Object.keys(x).length === 1) {
    if ("int" in x)
      return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON((x as { int: string }).int);
    if ("float" in x) return (x as { float: number }).float;
  }
  return x;
}

function kindOf(p: Parsed): ColumnKind | undefined {
  if (p === null) return undefined;
  if (typeof p === "boolean") return "boolean";
  if (typeof p === "string") return "string";
  if ("int" in p) return "int64";
  if ("float" in p) return "float64";
  return "json";
}

function merge(a: ColumnKind | undefined, b: ColumnKind | undefined): ColumnKind | undefined {
  if (a === undefined) return b;
  if (b === undefined || a === b) return a;
  if ((a === "int64" && b === "float64") || (a === "float64" && b === "int64")) return "float64";
  return "string";
}

/** Columns from sample records: keys in first-seen order, the narrowest kind that fits all. */
export function inferJsonSchema(samples: Map<string, Parsed>[]): Schema {
  const kinds = new Map<string, ColumnKind | undefined>();
  for (const rec of samples) for (const [k, v] of rec) kinds.set(k, merge(kinds.get(k), kindOf(v)));
  return [...kinds].map(
    ([name, kind]): Column => ({ name, kind: kind ?? "string", nullable: true, sourceType: "json" }),
  );
}

/** A parsed record as a row of the schema (keys the schema lacks are an error, absent keys null). */
export function jsonRow(schema: Schema, rec: Map<string, Parsed>, index: Map<string, number>): Row {
  const row: Row = new Array(schema.length).fill(null);
  for (const [k, p] of rec) {
    const i = index.get(k);
    if (i === undefined)
      throw new Error(`key ${JSON.stringify(k)} is not among the columns found in the first lines`);
    if (p === null) continue;
    const kind = schema[i]!.kind;
    if (kind === "string") {
      row[i] =
        typeof p === "string"
          ? p
          : typeof p === "boolean"
            ? String(p)
            : "int" in p
              ? p.int
              : "float" in p
                ? float64Text(p.float)
                : p.json;
    } else if (kind === "boolean" && typeof p === "boolean") row[i] = p;
    else if (kind === "int64" && typeof p === "object" && "int" in p) row[i] = BigInt(p.int);
    else if (kind === "float64" && typeof p === "object" && ("float" in p || "int" in p))
      row[i] = "float" in p ? p.float : Number(p.int);
    else if (kind === "json" && typeof p === "object" && "json" in p) row[i] = p.json;
    else throw new Error(`key ${JSON.stringify(k)} holds a ${kindOf(p)} where the first lines had ${kind}`);
  }
  return row;
}

/** Splits a byte stream into lines. */
export class LineSplitter {
  private leftover = "";
  private readonly decoder = new StringDecoder("utf8");
  push(chunk: Uint8Array): string[] {
    const s = this.leftover + this.decoder.write(chunk as Buffer);
    const lines = s.split("\n");
    this.leftover = lines.pop() ?? "";
    return lines;
  }
  end(): string[] {
    const rest = this.leftover + this.decoder.end();
    this.leftover = "";
    return rest.length > 0 ? [rest] : [];
  }
}
