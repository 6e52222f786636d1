/**
 * Finds where CSV records end in a stream of byte chunks, without decoding them, and hashes each
 * one: a record ends at a "\n" outside quotes. Each complete record is handed over as a byte range
 * (without its "\n") of the chunk it lies in, with its MurmurHash3 x86-128 (the content checksum's
 * row hash); one that spans chunks is joined first. The CSV fast path counts and checksums
 * PostgreSQL's COPY output this way. A record within one chunk is scanned and hashed in one pass
 * (murmur3x86_128CsvRecord); one split across chunks is joined, then hashed.
 */
import { murmur3x86_128, murmur3x86_128CsvRecord } from "../murmur3.ts";

const LF = 0x0a;

/**
 * A record b[start, end) and its hash (h1..h4). `hash` is reused for the next record: read it
 * before returning.
 */
export type RecordSink = (bytes: Uint8Array, start: number, end: number, hash: Uint32Array) => void;

export class CsvRecordSplitter {
  private readonly quote: number;
  private readonly onRecord: RecordSink;
  /** Bytes of a record not complete yet. */
  private pending: Buffer = Buffer.alloc(0);
  /** Whether a quoted section is open at the end of `pending`. */
  private pendingOpen = false;
  private readonly hash = new Uint32Array(4);
  records = 0;

  constructor(quote: string, onRecord: RecordSink) {
    if (quote.length !== 1 || quote.charCodeAt(0) >= 0x80)
      throw new Error("the quote must be one ASCII character");
    this.quote = quote.charCodeAt(0);
    this.onRecord = onRecord;
  }

  push(chunk: Uint8Array): void {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;
    if (this.pending.length > 0) {
      const end = this.recordEnd(b, 0, this.pendingOpen);
      if (end < 0) {
        this.pendingOpen = this.openAfter(b, 0, b.length, this.pendingOpen);
        this.pending = Buffer.concat([this.pending, b]);
        return;
      }
      const record = Buffer.concat([this.pending, b.subarray(0, end)]);
      this.emit(record, 0, record.length);
      this.pending = Buffer.alloc(0);
      this.pendingOpen = false;
      i = end + 1;
    }
    const n = b.length;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const hash = this.hash;
    while (i < n) {
      const end = murmur3x86_128CsvRecord(b, view, i, this.quote, hash);
      if (end < 0) break;
      this.records++;
      this.onRecord(b, i, end, hash);
      i = end + 1;
    }
    if (i < n) {
      this.pending = Buffer.from(b.subarray(i));
      this.pendingOpen = this.openAfter(b, i, n, false);
    }
  }

  /** The stream ended: a last record without its "\n", if any. */
  end(): void {
    if (this.pendingOpen) throw new Error("CSV: unterminated quoted field");
    if (this.pending.length > 0) this.emit(this.pending, 0, this.pending.length);
    this.pending = Buffer.alloc(0);
  }

  private emit(b: Uint8Array, start: number, end: number): void {
    this.records++;
    murmur3x86_128(b, start, end, this.hash);
    this.onRecord(b, start, end, this.hash);
  }

  /** The "\n" ending the record that starts at `from` (inside quotes if `open`); -1: not in b. */
  private recordEnd(b: Buffer, from: number, open: boolean): number {
    const q = this.quote;
    let pos = from;
    if (open) {
      const close = b.indexOf(q, pos);
      if (close < 0) return -1;
      pos = close + 1;
    }
    let nl = b.indexOf(LF, pos);
    for (;;) {
      if (nl < 0) return -1;
      const opening = b.indexOf(q, pos);
      if (opening < 0 || opening > nl) return nl;
      // A doubled quote inside a quoted field reads as a close and an open: the parity holds.
      const close = b.indexOf(q, opening + 1);
      if (close < 0) return -1;
      pos = close + 1;
      if (nl < pos) nl = b.indexOf(LF, pos);
    }
  }

  /** Whether a quoted section is open after b[from, to), given the state at `from`. */
  private openAfter(b: Buffer, from: number, to: number, open: boolean): boolean {
    let o = open;
    for (let k = from; k < to; k++) if (b[k] === this.quote) o = !o;
    return o;
  }
}
