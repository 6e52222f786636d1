/**
 * Two checksums per part. The file checksum (sha256 of the bytes as stored) proves a part was not
 * altered. The content checksum proves which rows a part holds whatever their order and format:
 * the sum, modulo 2^128, of MurmurHash3 x86-128 (murmur3.ts) of every row's canonical record. Sums
 * add up across parts, so the job's content checksum can be compared with one computed from the
 * source table (a duplicated or missing row changes it), and the same rows give the same checksum
 * in CSV, JSON Lines or Parquet.
 *
 * The canonical record of a row is its canonical field texts (values.ts) as one CSV record in the
 * default dialect, without the newline: comma-separated, NULL as an empty unquoted field, a field
 * quoted with " when it holds a comma, a quote, CR or LF or is empty (an empty string), quotes
 * doubled. That is byte for byte what PostgreSQL's COPY ... (FORMAT csv) prints for the canonical
 * projection (postgresProjection), so the CSV fast path hashes its bytes as they go to the sink, and
 * a user can recompute the checksum from the source with COPY and any MurmurHash3 implementation.
 */
import { createHash } from "node:crypto";
import { CsvFieldWriter } from "./formats/csv.ts";
import { murmur3x86_128 } from "./murmur3.ts";
import type { CsvDialect } from "./types.ts";

export const CONTENT_ALGORITHM = "murmur3-rowsum128";

const LANE = 2 ** 32;
/** Lanes are plain doubles; normalise carries well before they could exceed 2^53. */
const NORMALISE_EVERY = 1 << 20;

/** The dialect of canonical records (PostgreSQL's CSV defaults). */
export const CANONICAL_CSV = { delimiter: ",", quote: '"', nullValue: "", header: false } as const;

/** Whether CSV in this dialect is written as canonical records are (the header aside). */
export function isCanonicalDialect(csv: Pick<CsvDialect, "delimiter" | "quote" | "nullValue">): boolean {
  return (
    csv.delimiter === CANONICAL_CSV.delimiter &&
    csv.quote === CANONICAL_CSV.quote &&
    csv.nullValue === CANONICAL_CSV.nullValue
  );
}

export class ContentChecksum {
  // Most significant lane first: h1, h2, h3, h4 of each row's hash.
  private lanes = [0, 0, 0, 0];
  private pending = 0;
  private readonly hash = new Uint32Array(4);
  private scratch = Buffer.alloc(4096);
  private writers: CsvFieldWriter[] = [];
  rows = 0;

  /** Adds the row whose canonical record is b[start, end). */
  addRecord(b: Uint8Array, start: number, end: number): void {
    const h = this.hash;
    murmur3x86_128(b, start, end, h);
    this.addHash(h);
  }

  /** Adds a row by its record's hash (h1..h4), computed already (csv-records.ts). */
  addHash(h: Uint32Array): void {
    this.addLanes(h[0]!, h[1]!, h[2]!, h[3]!);
  }

  /** Adds a row given as canonical field texts (null for NULL). */
  addFields(fields: readonly (string | null)[]): void {
    const record = canonicalRecord(fields, this.writerFor(fields.length));
    if (record.length * 3 > this.scratch.length) this.scratch = Buffer.alloc(record.length * 3);
    const n = this.scratch.write(record, 0, "utf8");
    this.addRecord(this.scratch, 0, n);
  }

  /** Adds a row hash given as 16 bytes (h1..h4, each little-endian, as other implementations print it). */
  addDigest(digest: Uint8Array): void {
    const v = Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
    this.addLanes(v.readUInt32LE(0), v.readUInt32LE(4), v.readUInt32LE(8), v.readUInt32LE(12));
  }

  private writerFor(columns: number): CsvFieldWriter {
    let w = this.writers[columns];
    if (!w) {
      w = new CsvFieldWriter(CANONICAL_CSV, columns);
      this.writers[columns] = w;
    }
    return w;
  }

  private addLanes(a: number, b: number, c: number, d: number): void {
    const l = this.lanes;
    l[0]! += a;
    l[1]! += b;
    l[2]! += c;
    l[3]! += d;
    this.rows++;
    if (++this.pending >= NORMALISE_EVERY) this.normalise();
  }

  private normalise(): void {
    const l = this.lanes;
    for (let i = 3; i > 0; i--) {
      const carry = Math.floor(l[i]! / LANE);
      l[i] = l[i]! - carry * LANE;
      l[i - 1] = l[i - 1]! + carry;
    }
    l[0] = l[0]! % LANE;
    this.pending = 0;
  }

  /** Adds another part's checksum (as printed by toString). */
  addChecksum(text: string): void {
    const hex = parseContentChecksum(text);
    for (let i = 0; i < 4; i++) this.lanes[i]! += Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
    this.normalise();
  }

  toString(): string {
    this.normalise();
    return `${CONTENT_ALGORITHM}:${this.lanes.map((x) => x.toString(16).padStart(8, "0")).join("")}`;
  }
}

/** A row's canonical record (see the header), without the newline. */
export function canonicalRecord(
  fields: readonly (string | null)[],
  writer = new CsvFieldWriter(CANONICAL_CSV, fields.length),
): string {
  return writer.line(fields);
}

export function parseContentChecksum(text: string): string {
  const m = new RegExp(`^${CONTENT_ALGORITHM}:([0-9a-f]{32})$`).exec(text);
  if (!m) {
    const other = /^([a-z0-9-]+):[0-9a-f]+$/.exec(text)?.[1];
    throw new Error(
      other
        ? `content checksum ${text} was computed with ${other}, this agent computes ${CONTENT_ALGORITHM}`
        : `not a content checksum: ${text}`,
    );
  }
  return m[1]!;
}

/** Sum of several content checksums. */
export function combineContentChecksums(texts: readonly string[]): string {
  const c = new ContentChecksum();
  for (const t of texts) c.addChecksum(t);
  return c.toString();
}

/** Running sha256 of a part's bytes, with its size. */
export class FileChecksum {
  private readonly h = createHash("sha256");
  bytes = 0;
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
    this.bytes += chunk.byteLength;
  }
  digest(): string {
    return `sha256:${this.h.digest("hex")}`;
  }
}

/** The job's file checksum: sha256 over the part checksums in partition order, one per line. */
export function combineFileChecksums(partChecksums: readonly string[]): string {
  return `sha256:${createHash("sha256").update(partChecksums.join("\n")).digest("hex")}`;
}
