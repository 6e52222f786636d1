/**
 * JSON Lines straight from canonical CSV bytes (PostgreSQL's COPY of the canonical projection, as
 * the CSV and Parquet fast paths read it), byte for byte what JsonLinesEncoder writes for the same
 * rows: each record's fields are found where they lie and copied into the object, booleans and
 * integers as they are, json columns as embedded JSON, every other kind as a JSON string of its
 * canonical text. The row path (a cursor, one JS array per row, one string per value and per
 * object) took ~4-5 us a row; this one makes no string per row. Floats are not taken: COPY's float
 * text is not always the canonical one (see parquet-csv.ts), so those tables keep the row path.
 */
import type { ColumnKind, Schema } from "../types.ts";
import { CsvRecordSplitter, type RecordSink } from "./csv-records.ts";

const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;

/** How a column's text becomes JSON. */
const RAW = 0; // boolean, int32, int64: the canonical text is the JSON literal
const EMBEDDED = 1; // json: the text is JSON; CR and LF become spaces, as the row path does
const STRING = 2; // everything else: a JSON string

function mode(kind: ColumnKind): number {
  if (kind === "boolean" || kind === "int32" || kind === "int64") return RAW;
  if (kind === "json") return EMBEDDED;
  return STRING;
}

/** JSON.stringify's escape for each byte below 0x20, and for '"' and '\'; undefined: as is. */
const ESCAPES: (Uint8Array | undefined)[] = Array.from({ length: 256 }, (_, c) => {
  if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) return undefined;
  const short: Record<number, string> = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" };
  const text =
    c === QUOTE ? '\\"' : c === BACKSLASH ? "\\\\" : (short[c] ?? `\\u${c.toString(16).padStart(4, "0")}`);
  return Buffer.from(text, "latin1");
});

/** The longest a byte of field text can grow to as JSON ("\u001f"). */
const MAX_GROWTH = 6;

export class CanonicalCsvJsonLinesEncoder {
  private readonly keys: Buffer[];
  private readonly keysLength: number;
  private readonly modes: number[];
  private readonly width: number;
  private readonly splitter: CsvRecordSplitter;
  private readonly onRecord: RecordSink | undefined;
  private out: Buffer = Buffer.alloc(0);
  private w = 0;
  rows = 0;

  constructor(schema: Schema, onRecord?: RecordSink) {
    if (schema.length === 0) throw new Error("a JSON Lines record from CSV needs at least one column");
    // A float is a JSON number re-printed from its value, and COPY's text of it is not always the
    // canonical one: tables with floats take the row path.
    const bad = schema.find((c) => c.kind === "float32" || c.kind === "float64");
    if (bad) throw new Error(`column ${bad.name}: ${bad.kind} is not written from CSV bytes`);
    this.keys = schema.map((c, i) => Buffer.from(`${i === 0 ? "{" : ","}${JSON.stringify(c.name)}:`));
    this.keysLength = this.keys.reduce((n, k) => n + k.length, 0);
    this.modes = schema.map((c) => mode(c.kind));
    this.width = schema.length;
    this.onRecord = onRecord;
    this.splitter = new CsvRecordSplitter('"', (b, start, end, hash) => this.record(b, start, end, hash));
  }

  start(): Uint8Array[] {
    return [];
  }

  /** The objects of the records `chunk` completes. */
  push(chunk: Uint8Array): Uint8Array[] {
    // Records grow by their keys and quotes (about 2x on the benchmark's table): start at 3x, grow
    // when a record needs more.
    this.out = Buffer.allocUnsafe(chunk.length * 3 + this.keysLength + 4096);
    this.w = 0;
    this.splitter.push(chunk);
    return this.take();
  }

  /** The stream ended: its last record, if it had no "\n". */
  finish(): Uint8Array[] {
    this.out = Buffer.allocUnsafe(4096);
    this.w = 0;
    this.splitter.end();
    return this.take();
  }

  private take(): Uint8Array[] {
    return this.w > 0 ? [this.out.subarray(0, this.w)] : [];
  }

  /** Room for `n` more bytes. */
  private ensure(n: number): void {
    if (this.w + n <= this.out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.w + n));
    this.out.copy(next, 0, 0, this.w);
    this.out = next;
  }

  /** One record, b[start, end) without its "\n". */
  private record(b: Uint8Array, start: number, end: number, hash: Uint32Array): void {
    this.onRecord?.(b, start, end, hash);
    this.ensure((end - start) * MAX_GROWTH + this.keysLength + 2);
    const out = this.out;
    const last = this.width - 1;
    let w = this.w;
    let p = start;
    for (let c = 0; c <= last; c++) {
      const key = this.keys[c]!;
      key.copy(out, w);
      w += key.length;
      const m = this.modes[c]!;
      if (p < end && b[p] === QUOTE) {
        // A quoted field: its text runs to the quote that is not doubled.
        if (m === STRING) out[w++] = QUOTE;
        let q = p + 1;
        for (;;) {
          if (q >= end) throw new Error("canonical CSV: unterminated quoted field");
          const ch = b[q]!;
          if (ch === QUOTE) {
            if (q + 1 < end && b[q + 1] === QUOTE) q++;
            else break;
          }
          w = this.put(out, w, ch, m);
          q++;
        }
        if (m === STRING) out[w++] = QUOTE;
        p = q + 1;
      } else if (p === end || b[p] === COMMA) {
        // NULL.
        out[w++] = 0x6e;
        out[w++] = 0x75;
        out[w++] = 0x6c;
        out[w++] = 0x6c;
      } else {
        if (m === STRING) out[w++] = QUOTE;
        let q = p;
        while (q < end) {
          const ch = b[q]!;
          if (ch === COMMA) break;
          w = this.put(out, w, ch, m);
          q++;
        }
        if (m === STRING) out[w++] = QUOTE;
        p = q;
      }
      if (c < last) {
        if (p >= end || b[p] !== COMMA) throw this.widthError(b, start, end);
        p++;
      } else if (p !== end) throw this.widthError(b, start, end);
    }
    out[w++] = 0x7d; // }
    out[w++] = 0x0a;
    this.w = w;
    this.rows++;
  }

  /** Writes one byte of field text as the column's mode wants it; returns the new end. */
  private put(out: Buffer, w: number, ch: number, m: number): number {
    if (m === STRING) {
      const e = ESCAPES[ch];
      if (e === undefined) out[w++] = ch;
      else for (let k = 0; k < e.length; k++) out[w++] = e[k]!;
    } else if (m === EMBEDDED && (ch === 0x0a || ch === 0x0d)) out[w++] = 0x20;
    else out[w++] = ch;
    return w;
  }

  private widthError(b: Uint8Array, start: number, end: number): Error {
    const text = Buffer.from(b.subarray(start, Math.min(end, start + 200))).toString("utf8");
    return new Error(`canonical CSV: a record does not have ${this.width} fields: ${JSON.stringify(text)}`);
  }
}
