/**
 * A Parquet file built from typed column buffers, for encoders that parse values straight from
 * bytes (parquet-csv.ts) and so never make a JS value per field. Each column appends its values in
 * their PLAIN physical encoding as they come (INT32/INT64/FLOAT/DOUBLE little-endian, BOOLEAN bit-packed,
 * BYTE_ARRAY length-prefixed, FIXED_LEN_BYTE_ARRAY big-endian) and one definition level per row;
 * a full row group becomes one DATA_PAGE_V2 per column (levels as RLE/bit-packed runs, values
 * compressed), and the buffers are reused for the next, so memory holds one row group whatever the
 * table size.
 *
 * What a reader sees is what ParquetEncoder (parquet.ts, hyparquet-writer) writes: the same schema
 * (parquetElement), values, codec and chunk statistics (min/max and null count, byte-array bounds
 * truncated to 16 bytes the same way, by hyparquet-writer's own metadata writer). What differs is
 * layout only: PLAIN instead of dictionary encoding, bit-packed instead of RLE booleans, one page
 * per column chunk, so no offset index.
 */
import { gzipSync } from "node:zlib";
import type { ColumnChunk, FileMetaData, RowGroup } from "hyparquet";
import { ByteWriter, type SchemaElement } from "hyparquet-writer";
import { writePageHeader } from "hyparquet-writer/src/datapage.js";
import { writeMetadata } from "hyparquet-writer/src/metadata.js";
import { snappyCompress } from "./snappy.ts";

export type Codec = "SNAPPY" | "GZIP" | "UNCOMPRESSED";

const TWO_32 = 4294967296;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;
const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

/** One column of the row group being filled. */
export class ColumnBuffer {
  readonly element: SchemaElement;
  readonly nullable: boolean;
  /** PLAIN-encoded values of the row group so far. */
  values: Uint8Array;
  view: DataView;
  /** Bytes used in `values`. */
  length = 0;
  /** One definition level (0 NULL, 1 a value) per row, for nullable columns. */
  private defs: Uint8Array;
  rows = 0;
  nulls = 0;
  /** BOOLEAN: values appended (bits used). */
  private bits = 0;
  // Statistics: integers as doubles while exact, bigints beyond; byte arrays as offsets in `values`.
  private numMin = Number.POSITIVE_INFINITY;
  private numMax = Number.NEGATIVE_INFINITY;
  private bigMin: bigint | undefined;
  private bigMax: bigint | undefined;
  /** FLOAT/DOUBLE: NaNs (kept out of min/max, as the spec asks) and the other values seen. */
  private nans = 0;
  private finite = 0;
  private sawTrue = false;
  private sawFalse = false;
  private minAt = -1;
  private minLen = 0;
  private maxAt = -1;
  private maxLen = 0;
  /** Where the byte array being written began (its length prefix). */
  private openAt = 0;

  constructor(element: SchemaElement) {
    this.element = element;
    this.nullable = element.repetition_type === "OPTIONAL";
    // Small to start: a wide table has many columns; each grows to its share of a row group.
    this.values = new Uint8Array(1 << 12);
    this.view = new DataView(this.values.buffer);
    this.defs = new Uint8Array(this.nullable ? 1 << 10 : 0);
  }

  /** Room for `n` more value bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.values.length) return;
    let size = this.values.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.values.subarray(0, this.length));
    this.values = next;
    this.view = new DataView(next.buffer);
  }

  private present(): void {
    if (this.nullable) {
      if (this.rows === this.defs.length) this.growDefs();
      this.defs[this.rows] = 1;
    }
    this.rows++;
  }

  appendNull(): void {
    if (!this.nullable)
      throw new Error(`NULL in column ${this.element.name}, which the source declares NOT NULL`);
    if (this.rows === this.defs.length) this.growDefs();
    this.defs[this.rows++] = 0;
    this.nulls++;
  }

  private growDefs(): void {
    const next = new Uint8Array(this.defs.length * 2);
    next.set(this.defs);
    this.defs = next;
  }

  appendBoolean(v: boolean): void {
    this.present();
    const bit = this.bits++;
    if ((bit & 7) === 0) {
      this.ensure(1);
      this.values[this.length++] = 0;
    }
    if (v) {
      this.values[this.length - 1]! |= 1 << (bit & 7);
      this.sawTrue = true;
    } else this.sawFalse = true;
  }

  appendInt32(v: number): void {
    this.present();
    this.ensure(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
    if (v < this.numMin) this.numMin = v;
    if (v > this.numMax) this.numMax = v;
  }

  /** An INT64 given as a double; exact only for safe integers, which the caller checks. */
  appendInt64(v: number): void {
    this.present();
    this.ensure(8);
    const hi = Math.floor(v / TWO_32);
    this.view.setUint32(this.length, v - hi * TWO_32, true);
    this.view.setInt32(this.length + 4, hi, true);
    this.length += 8;
    if (v < this.numMin) this.numMin = v;
    if (v > this.numMax) this.numMax = v;
  }

  /** A FLOAT or DOUBLE, by the column's type. */
  appendFloat(v: number): void {
    this.present();
    if (this.element.type === "FLOAT") {
      this.ensure(4);
      this.view.setFloat32(this.length, v, true);
      this.length += 4;
    } else {
      this.ensure(8);
      this.view.setFloat64(this.length, v, true);
      this.length += 8;
    }
    if (Number.isNaN(v)) {
      this.nans++;
      return;
    }
    this.finite++;
    if (v < this.numMin) this.numMin = v;
    if (v > this.numMax) this.numMax = v;
  }

  appendBigInt64(v: bigint): void {
    this.present();
    this.ensure(8);
    this.view.setBigInt64(this.length, v, true);
    this.length += 8;
    this.bigStats(v);
  }

  /** A FIXED_LEN_BYTE_ARRAY decimal: the unscaled value, big-endian two's complement. */
  appendFixedDecimal(v: number | bigint): void {
    this.present();
    const width = this.element.type_length!;
    this.ensure(width);
    const out = this.values;
    const end = this.length + width;
    if (typeof v === "number") {
      // A safe integer: floored division by 256 stays exact and ends at 0 or -1 (the sign bytes).
      let x = v;
      for (let k = end - 1; k >= this.length; k--) {
        const byte = ((x % 256) + 256) % 256;
        out[k] = byte;
        x = (x - byte) / 256;
      }
      if (v < this.numMin) this.numMin = v;
      if (v > this.numMax) this.numMax = v;
    } else {
      let x = BigInt.asUintN(width * 8, v);
      for (let k = end - 1; k >= this.length; k--) {
        out[k] = Number(x & 0xffn);
        x >>= 8n;
      }
      this.bigStats(v);
    }
    this.length = end;
  }

  private bigStats(v: bigint): void {
    if (this.bigMin === undefined || v < this.bigMin) this.bigMin = v;
    if (this.bigMax === undefined || v > this.bigMax) this.bigMax = v;
  }

  /** Starts a byte array of at most `max` bytes: write them from the returned offset of `values`. */
  openBytes(max: number): number {
    this.present();
    this.ensure(4 + max);
    this.openAt = this.length;
    return this.length + 4;
  }

  /** Ends the byte array opened last, `n` bytes long. */
  closeBytes(n: number): void {
    const at = this.openAt;
    this.view.setUint32(at, n, true);
    this.length = at + 4 + n;
    this.byteBounds(at + 4, n);
  }

  /**
   * Appends `rows` rows parsed elsewhere (parquet-fields.ts): their values in the PLAIN encoding
   * (a BOOLEAN as one byte 0 or 1, bit-packed here), one definition level each (read when the
   * column is nullable), `nulls` of them NULL. Returns where the values start in `values`: their
   * statistics are the caller's to add (integerBounds, byteBounds).
   */
  appendStaged(values: Uint8Array, levels: Uint8Array, rows: number, nulls: number): number {
    if (this.nullable) {
      while (this.rows + rows > this.defs.length) this.growDefs();
      this.defs.set(levels, this.rows);
    } else if (nulls > 0)
      throw new Error(`NULL in column ${this.element.name}, which the source declares NOT NULL`);
    this.rows += rows;
    this.nulls += nulls;
    if (this.element.type === "BOOLEAN") {
      this.ensure((values.length >> 3) + 1);
      for (let i = 0; i < values.length; i++) {
        const bit = this.bits++;
        if ((bit & 7) === 0) this.values[this.length++] = 0;
        if (values[i]) this.values[this.length - 1]! |= 1 << (bit & 7);
      }
      return -1;
    }
    const at = this.length;
    this.ensure(values.length);
    this.values.set(values, at);
    this.length += values.length;
    return at;
  }

  /** Statistics of integers appended by appendStaged (booleans as 0 and 1). */
  integerBounds(min: bigint, max: bigint): void {
    if (this.element.type === "BOOLEAN") {
      if (min === 0n) this.sawFalse = true;
      if (max === 1n) this.sawTrue = true;
      return;
    }
    for (const v of [min, max]) {
      if (v >= MIN_SAFE && v <= MAX_SAFE) {
        const n = Number(v);
        if (n < this.numMin) this.numMin = n;
        if (n > this.numMax) this.numMax = n;
      } else this.bigStats(v);
    }
  }

  /** Statistics of the byte array at `values[start, start + n)`. */
  byteBounds(start: number, n: number): void {
    if (this.minAt < 0) {
      this.minAt = this.maxAt = start;
      this.minLen = this.maxLen = n;
      return;
    }
    if (compareBytes(this.view, start, n, this.minAt, this.minLen) < 0) {
      this.minAt = start;
      this.minLen = n;
    } else if (compareBytes(this.view, start, n, this.maxAt, this.maxLen) > 0) {
      this.maxAt = start;
      this.maxLen = n;
    }
  }

  /** The row group's statistics, in the JS forms hyparquet-writer's metadata writer converts. */
  statistics(): { min_value?: unknown; max_value?: unknown; null_count: bigint; nan_count?: bigint } {
    const stats: { min_value?: unknown; max_value?: unknown; null_count: bigint; nan_count?: bigint } = {
      null_count: BigInt(this.nulls),
    };
    const e = this.element;
    const float = e.type === "FLOAT" || e.type === "DOUBLE";
    if (float) stats.nan_count = BigInt(this.nans);
    if (this.rows === this.nulls) return stats;
    if (float) {
      if (this.finite > 0) {
        // Signed zero as the spec asks: a zero min is -0, a zero max +0.
        stats.min_value = this.numMin === 0 ? -0 : this.numMin;
        stats.max_value = this.numMax === 0 ? 0 : this.numMax;
      }
    } else if (e.type === "BOOLEAN") {
      stats.min_value = !this.sawFalse;
      stats.max_value = this.sawTrue;
    } else if (e.type === "BYTE_ARRAY") {
      stats.min_value = this.values.slice(this.minAt, this.minAt + this.minLen);
      stats.max_value = this.values.slice(this.maxAt, this.maxAt + this.maxLen);
    } else {
      let min = this.bigMin;
      let max = this.bigMax;
      if (this.numMin !== Number.POSITIVE_INFINITY) {
        const nMin = BigInt(this.numMin);
        const nMax = BigInt(this.numMax);
        if (min === undefined || nMin < min) min = nMin;
        if (max === undefined || nMax > max) max = nMax;
      }
      // INT32 columns (DATE included) take numbers; INT64 and decimals bigints.
      const int32 = e.type === "INT32" && e.converted_type !== "DECIMAL";
      stats.min_value = int32 ? Number(min) : min;
      stats.max_value = int32 ? Number(max) : max;
    }
    return stats;
  }

  /** The definition levels as RLE/bit-packed hybrid runs (bit width 1), no length prefix. */
  levels(): Uint8Array {
    const w = new ByteWriter(64 + (this.rows >> 3));
    writeLevels(w, this.defs, this.rows);
    return w.getBytes();
  }

  reset(): void {
    this.length = 0;
    this.rows = 0;
    this.nulls = 0;
    this.bits = 0;
    this.numMin = Number.POSITIVE_INFINITY;
    this.numMax = Number.NEGATIVE_INFINITY;
    this.bigMin = this.bigMax = undefined;
    this.nans = this.finite = 0;
    this.sawTrue = this.sawFalse = false;
    this.minAt = this.maxAt = -1;
    this.minLen = this.maxLen = 0;
  }
}

/** Unsigned lexicographic order of b[a, a+an) and b[c, c+cn): Parquet's BYTE_ARRAY order. */
function compareBytes(view: DataView, a: number, an: number, c: number, cn: number): number {
  const n = Math.min(an, cn);
  let i = 0;
  // Four bytes at a time, big-endian, so the first differing word decides as its bytes would.
  for (; i + 4 <= n; i += 4) {
    const x = view.getUint32(a + i);
    const y = view.getUint32(c + i);
    if (x !== y) return x < y ? -1 : 1;
  }
  for (; i < n; i++) {
    const d = view.getUint8(a + i) - view.getUint8(c + i);
    if (d !== 0) return d;
  }
  return an - cn;
}

/**
 * RLE/bit-packed hybrid of 0/1 levels: runs of 64 or more equal levels that start on a multiple
 * of 8 as RLE runs, everything else bit-packed in groups of 8 (a partial last group padded).
 */
export function writeLevels(w: ByteWriter, defs: Uint8Array, count: number): void {
  let i = 0;
  while (i < count) {
    // The equal run starting at i.
    const v = defs[i]!;
    let run = i + 1;
    while (run < count && defs[run] === v) run++;
    const length = run - i;
    if (length >= 64 || run === count) {
      w.appendVarInt(length << 1);
      w.appendUint8(v);
      i = run;
      continue;
    }
    // Bit-pack from i until a long run begins at a group boundary (or the end).
    let end = i;
    for (;;) {
      end += 8;
      if (end >= count) {
        end = count;
        break;
      }
      const u = defs[end]!;
      let r = end + 1;
      while (r < count && r - end < 64 && defs[r] === u) r++;
      if (r - end >= 64) break;
    }
    const groups = Math.ceil((end - i) / 8);
    w.appendVarInt((groups << 1) | 1);
    for (let g = 0; g < groups; g++) {
      let byte = 0;
      for (let b = 0; b < 8; b++) {
        const k = i + g * 8 + b;
        if (k < end && defs[k]) byte |= 1 << b;
      }
      w.appendUint8(byte);
    }
    i = end;
  }
}

function compress(codec: Codec, data: Uint8Array): Uint8Array {
  if (codec === "SNAPPY") return snappyCompress(data);
  if (codec === "GZIP") return gzipSync(data);
  // A copy: the column's buffer is reused for the next row group while these bytes may still wait.
  return data.slice();
}

/** Row groups out of ColumnBuffers, then the footer: every method returns the file's next bytes. */
export class ParquetColumnsWriter {
  readonly columns: ColumnBuffer[];
  private readonly schema: SchemaElement[];
  private readonly codec: Codec;
  private readonly rowGroups: RowGroup[] = [];
  private offset = 0;
  private numRows = 0;

  constructor(elements: SchemaElement[], codec: Codec) {
    this.schema = [{ name: "root", num_children: elements.length }, ...elements];
    this.columns = elements.map((e) => new ColumnBuffer(e));
    this.codec = codec;
  }

  start(): Uint8Array[] {
    this.offset = MAGIC.length;
    return [MAGIC.slice()];
  }

  /** Bytes buffered in the row group being filled. */
  bufferedBytes(): number {
    let n = 0;
    for (const c of this.columns) n += c.length;
    return n;
  }

  /** Writes the buffered rows as one row group (none when empty). */
  flushRowGroup(): Uint8Array[] {
    const rows = this.columns[0]?.rows ?? 0;
    if (rows === 0) return [];
    const out: Uint8Array[] = [];
    const start = this.offset;
    const chunks: ColumnChunk[] = [];
    let uncompressedTotal = 0;
    for (const c of this.columns) {
      if (c.rows !== rows)
        throw new Error(`column ${c.element.name} has ${c.rows} rows, the row group ${rows}`);
      const levels = c.nullable ? c.levels() : new Uint8Array(0);
      const plain = c.values.subarray(0, c.length);
      const data = compress(this.codec, plain);
      const header = new ByteWriter(64);
      writePageHeader(header, {
        type: "DATA_PAGE_V2",
        uncompressed_page_size: levels.length + plain.length,
        compressed_page_size: levels.length + data.length,
        data_page_header_v2: {
          num_values: rows,
          num_nulls: c.nulls,
          num_rows: rows,
          encoding: "PLAIN",
          definition_levels_byte_length: levels.length,
          repetition_levels_byte_length: 0,
          is_compressed: this.codec !== "UNCOMPRESSED",
        },
      });
      const head = header.getBytes();
      const chunkStart = this.offset;
      out.push(head);
      if (levels.length > 0) out.push(levels);
      out.push(data);
      const compressed = head.length + levels.length + data.length;
      const uncompressed = head.length + levels.length + plain.length;
      this.offset += compressed;
      uncompressedTotal += uncompressed;
      chunks.push({
        file_offset: BigInt(chunkStart),
        meta_data: {
          type: c.element.type!,
          encodings: c.nullable ? ["PLAIN", "RLE"] : ["PLAIN"],
          path_in_schema: [c.element.name],
          codec: this.codec,
          num_values: BigInt(rows),
          total_uncompressed_size: BigInt(uncompressed),
          total_compressed_size: BigInt(compressed),
          data_page_offset: BigInt(chunkStart),
          statistics: c.statistics() as NonNullable<ColumnChunk["meta_data"]>["statistics"],
          encoding_stats: [{ page_type: "DATA_PAGE_V2", encoding: "PLAIN", count: 1 }],
        },
      });
      c.reset();
    }
    this.rowGroups.push({
      columns: chunks,
      total_byte_size: BigInt(uncompressedTotal),
      num_rows: BigInt(rows),
      total_compressed_size: BigInt(this.offset - start),
    });
    this.numRows += rows;
    return out;
  }

  /** The last row group, the footer and the closing magic. */
  finish(): Uint8Array[] {
    const out = this.flushRowGroup();
    const w = new ByteWriter(4096);
    const metadata = {
      version: 2,
      created_by: "ferry",
      schema: this.schema,
      num_rows: BigInt(this.numRows),
      row_groups: this.rowGroups,
    } as unknown as FileMetaData;
    writeMetadata(w, metadata);
    w.appendBytes(MAGIC);
    out.push(w.getBytes().slice());
    return out;
  }
}
