/**
 * CSV as RFC 4180 describes it, with the CRD's dialect (delimiter, quote, NULL text, header), and
 * one deliberate choice: records end with "\n", as PostgreSQL's COPY writes them, so the COPY fast
 * path and this encoder produce the same bytes. A field is quoted when it contains the delimiter,
 * the quote, CR or LF, when it equals the NULL text (so an empty string and NULL differ), and when a
 * single-column record would read "\." — exactly PostgreSQL's rule. Quotes inside are doubled.
 * Every value is written as its canonical text (values.ts).
 */
import { StringDecoder } from "node:string_decoder";
import type { CsvDialect, CsvOptions, Encoder, Row, Schema } from "../types.ts";
import { valueText } from "../values.ts";

export function csvDialect(options: CsvOptions | undefined): CsvDialect {
  return {
    delimiter: options?.delimiter ?? ",",
    quote: options?.quote ?? '"',
    nullValue: options?.nullValue ?? "",
    header: options?.header ?? true,
  };
}

function escapeClass(c: string): string {
  return c.replace(/[\\\]^-]/g, "\\$&");
}

export class CsvFieldWriter {
  private readonly special: RegExp;
  private readonly doubled: string;
  private readonly dialect: CsvDialect;
  private readonly columns: number;
  constructor(dialect: CsvDialect, columns: number) {
    this.dialect = dialect;
    this.columns = columns;
    this.special = new RegExp(`[${escapeClass(dialect.delimiter)}${escapeClass(dialect.quote)}\\r\\n]`);
    this.doubled = dialect.quote + dialect.quote;
  }

  field(text: string): string {
    const { quote, nullValue } = this.dialect;
    if (text === nullValue || this.special.test(text) || (this.columns === 1 && text === "\\.")) {
      return quote + text.replaceAll(quote, this.doubled) + quote;
    }
    return text;
  }

  /** The fields as one record, without its "\n". */
  line(fields: readonly (string | null)[]): string {
    let out = "";
    const d = this.dialect.delimiter;
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) out += d;
      const f = fields[i];
      out += f === null || f === undefined ? this.dialect.nullValue : this.field(f);
    }
    return out;
  }

  record(fields: readonly (string | null)[]): string {
    return `${this.line(fields)}\n`;
  }
}

export class CsvEncoder implements Encoder {
  private readonly writer: CsvFieldWriter;
  private readonly schema: Schema;
  private readonly dialect: CsvDialect;
  constructor(schema: Schema, dialect: CsvDialect) {
    this.schema = schema;
    this.dialect = dialect;
    this.writer = new CsvFieldWriter(dialect, schema.length);
  }

  start(): Uint8Array[] {
    if (!this.dialect.header) return [];
    return [Buffer.from(this.writer.record(this.schema.map((c) => c.name)))];
  }

  encode(rows: Row[]): Uint8Array[] {
    const kinds = this.schema.map((c) => c.kind);
    const d = this.dialect.delimiter;
    const nul = this.dialect.nullValue;
    let out = "";
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        if (i > 0) out += d;
        const v = row[i];
        out += v === null || v === undefined ? nul : this.writer.field(valueText(kinds[i]!, v));
      }
      out += "\n";
    }
    return [Buffer.from(out)];
  }

  finish(): Uint8Array[] {
    return [];
  }
}

/**
 * Incremental CSV parser: feed it chunks as they arrive, get back complete records. Unquoted fields
 * equal to the NULL text are null; quoted ones never are. Accepts "\r\n" record ends as well.
 */
export class CsvParser {
  private leftover = "";
  private readonly decoder = new StringDecoder("utf8");
  private readonly q: string;
  private readonly d: string;

  private readonly dialect: Pick<CsvDialect, "delimiter" | "quote" | "nullValue">;
  constructor(dialect: Pick<CsvDialect, "delimiter" | "quote" | "nullValue">) {
    this.dialect = dialect;
    this.q = dialect.quote;
    this.d = dialect.delimiter;
  }

  /** Records completed by this chunk. */
  push(chunk: Uint8Array | string): (string | null)[][] {
    const text = typeof chunk === "string" ? chunk : this.decoder.write(chunk as Buffer);
    return this.parse(this.leftover + text, false);
  }

  /** The last record, when the data did not end with a newline. */
  end(): (string | null)[][] {
    const rest = this.leftover + this.decoder.end();
    this.leftover = "";
    return rest.length > 0 ? this.parse(rest, true) : [];
  }

  private parse(s: string, final: boolean): (string | null)[][] {
    const records: (string | null)[][] = [];
    const { q, d } = this;
    const nul = this.dialect.nullValue;
    let i = 0;
    let nextQuote = s.indexOf(q);
    const n = s.length;
    while (i < n) {
      const nl = s.indexOf("\n", i);
      if (nextQuote !== -1 && nextQuote < i) nextQuote = s.indexOf(q, i);
      if (nl !== -1 && (nextQuote === -1 || nextQuote > nl)) {
        // Fast path: no quote in this record.
        let line = s.slice(i, nl);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        const fields: (string | null)[] = line.split(d);
        for (let k = 0; k < fields.length; k++) if (fields[k] === nul) fields[k] = null;
        records.push(fields);
        i = nl + 1;
        continue;
      }
      if (nl === -1 && nextQuote === -1 && !final) break;
      const parsed = this.slowRecord(s, i, final);
      if (!parsed) break;
      records.push(parsed.fields);
      i = parsed.next;
    }
    this.leftover = s.slice(i);
    return records;
  }

  /** A record with quoted fields, char by char; undefined when it is not complete yet. */
  private slowRecord(
    s: string,
    start: number,
    final: boolean,
  ): { fields: (string | null)[]; next: number } | undefined {
    const { q, d } = this;
    const nul = this.dialect.nullValue;
    const fields: (string | null)[] = [];
    let i = start;
    const n = s.length;
    for (;;) {
      if (s[i] === q) {
        let value = "";
        let j = i + 1;
        for (;;) {
          const k = s.indexOf(q, j);
          if (k === -1) {
            if (final) throw new Error("CSV: unterminated quoted field");
            return undefined;
          }
          value += s.slice(j, k);
          if (s[k + 1] === q) {
            value += q;
            j = k + 2;
            continue;
          }
          if (k + 1 >= n && !final) return undefined;
          i = k + 1;
          break;
        }
        fields.push(value);
      } else {
        let j = i;
        while (j < n && s[j] !== d && s[j] !== "\n") j++;
        if (j >= n && !final) return undefined;
        let value = s.slice(i, j);
        if (s[j] === "\n" && value.endsWith("\r")) value = value.slice(0, -1);
        fields.push(value === nul ? null : value);
        i = j;
      }
      if (i >= n) return { fields, next: n };
      const c = s[i];
      if (c === d) {
        i++;
        if (i >= n) {
          if (!final) return undefined;
          fields.push(nul === "" ? null : "");
          return { fields, next: n };
        }
        continue;
      }
      if (c === "\r" && s[i + 1] === "\n") return { fields, next: i + 2 };
      if (c === "\r" && i + 1 >= n && !final) return undefined;
      if (c === "\n") return { fields, next: i + 1 };
      throw new Error(`CSV: unexpected character ${JSON.stringify(c)} after a quoted field`);
    }
  }
}
