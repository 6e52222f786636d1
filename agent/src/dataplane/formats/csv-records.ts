/**
 * Finds where CSV records end in a stream of byte chunks, without decoding them, and hashes each
 * one: a record ends at a "\n" outside quotes. Each complete record is handed over as a byte range
 * (without its "\n") of the chunk it lies in, with its MurmurHash3 x86-128 (the content checksum's
 * row hash); one that spans chunks is joined first. The CSV fast path counts and checksums
 * PostgreSQL's COPY output this way, and the Parquet and JSON Lines fast paths find their records.
 *
 * The records within a chunk are found and hashed in one pass by csv-records.wasm (its source,
 * csv-records.wat, says how): the chunk is copied into the module's memory a window at a time and
 * the module returns every complete record's end and hash. A record split across chunks, or longer
 * than a window, is found here and hashed with murmur3.ts, which is rare.
 */
import { murmur3x86_128 } from "../murmur3.ts";
import { instantiate, WASM_PAGE, type WasmMemory } from "../wasm.ts";

/** Bytes of a chunk scanned per call into the module. */
export const WINDOW = 1 << 20;
/** Records reported per call (20 bytes each). */
const MAX_RECORDS = 16_384;

interface Scanner {
  scan(start: number, end: number, quote: number, out: number, max: number): number;
  bytes: Uint8Array;
  words: Uint32Array;
  /** Byte offset of the records' output. */
  out: number;
}

/**
 * One instance serves every splitter of the process: a push copies its window in and reads every
 * record out before it returns, and onRecord never pushes into a splitter.
 */
function loadScanner(): Scanner {
  // The window, 16 bytes the scan may read past it, then the output.
  const out = WINDOW + WASM_PAGE;
  const exports = instantiate<{ memory: WasmMemory; scan: Scanner["scan"] }>(
    new URL("./csv-records.wasm", import.meta.url),
    out + MAX_RECORDS * 20,
  );
  const buffer = exports.memory.buffer;
  return { scan: exports.scan, bytes: new Uint8Array(buffer), words: new Uint32Array(buffer), out };
}

let scanner: Scanner | undefined;

const LF = 0x0a;

/**
 * A record b[start, end) and its hash (h1..h4). `hash` is reused for the next record: read it
 * before returning.
 */
export type RecordSink = (bytes: Uint8Array, start: number, end: number, hash: Uint32Array) => void;

/**
 * Cuts a stream of CSV byte chunks into complete records, for a module that works a window at a
 * time: `onWindow` takes the complete records of b[from, from + length) (the first starting at
 * `from`) and returns the bytes they take; `onRecord` gets, one at a time, a record the windows do
 * not cover, b[start, end) with its "\n" at b[end]: one joined across chunks, or one longer than a
 * window. A record split across chunks is kept in pieces and joined once, when its end arrives.
 */
export class CsvRecordRuns {
  private readonly quote: number;
  private readonly window: number;
  private readonly onWindow: (b: Buffer, from: number, length: number) => number;
  private readonly onRecord: (b: Buffer, start: number, end: number) => void;
  /** The pieces of a record not complete yet. */
  private pending: Buffer[] = [];
  /** Whether a quoted section is open at the end of `pending`. */
  private pendingOpen = false;

  constructor(
    quote: number,
    window: number,
    onWindow: (b: Buffer, from: number, length: number) => number,
    onRecord: (b: Buffer, start: number, end: number) => void,
  ) {
    this.quote = quote;
    this.window = window;
    this.onWindow = onWindow;
    this.onRecord = onRecord;
  }

  push(chunk: Uint8Array): void {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;
    if (this.pending.length > 0) {
      const end = recordEnd(b, 0, this.pendingOpen, this.quote);
      if (end < 0) {
        this.pendingOpen = openAfter(b, 0, b.length, this.pendingOpen, this.quote);
        this.pending.push(Buffer.from(b));
        return;
      }
      const record = Buffer.concat([...this.pending, b.subarray(0, end + 1)]);
      this.pending = [];
      this.pendingOpen = false;
      this.onRecord(record, 0, record.length - 1);
      i = end + 1;
    }
    const n = b.length;
    while (i < n) {
      const w = Math.min(n - i, this.window);
      const last = i + w === n;
      const taken = this.onWindow(b, i, w);
      i += taken;
      if (last) break; // what is left is a record this chunk does not complete
      if (taken > 0) continue; // the next window starts at the first record this one did not complete
      // A record longer than a window.
      const end = recordEnd(b, i, false, this.quote);
      if (end < 0) break;
      this.onRecord(b, i, end);
      i = end + 1;
    }
    if (i < n) {
      this.pending = [Buffer.from(b.subarray(i))];
      this.pendingOpen = openAfter(b, i, n, false, this.quote);
    }
  }

  /** The stream ended: the bytes of a last record without its "\n", if any. */
  end(): Buffer | undefined {
    if (this.pendingOpen) throw new Error("CSV: unterminated quoted field");
    const rest = this.pending.length > 0 ? Buffer.concat(this.pending) : undefined;
    this.pending = [];
    return rest;
  }
}

/**
 * Cuts a stream of CSV byte chunks into records and hashes each (RecordSink). With `onRun`, each
 * run of records just handed to `onRecord` is then handed over whole, b[start, end): a window's
 * records, each with its "\n", or one record without it.
 */
export class CsvRecordSplitter {
  private readonly quote: number;
  private readonly onRecord: RecordSink;
  private readonly onRun: ((b: Uint8Array, start: number, end: number) => void) | undefined;
  private readonly runs: CsvRecordRuns;
  private readonly hash = new Uint32Array(4);
  records = 0;

  constructor(
    quote: string,
    onRecord: RecordSink,
    onRun?: (b: Uint8Array, start: number, end: number) => void,
  ) {
    if (quote.length !== 1 || quote.charCodeAt(0) >= 0x80)
      throw new Error("the quote must be one ASCII character");
    this.quote = quote.charCodeAt(0);
    this.onRecord = onRecord;
    this.onRun = onRun;
    this.runs = new CsvRecordRuns(
      this.quote,
      WINDOW,
      (b, from, length) => this.scanWindow(b, from, length),
      (b, start, end) => this.emit(b, start, end),
    );
  }

  push(chunk: Uint8Array): void {
    this.runs.push(chunk);
  }

  /** The stream ended: a last record without its "\n", if any. */
  end(): void {
    const rest = this.runs.end();
    if (rest) this.emit(rest, 0, rest.length);
  }

  /**
   * Hands over the complete records of b[from, from + length), the first starting at `from`, and
   * returns how many bytes they take (up to the first one not complete in the window).
   */
  private scanWindow(b: Buffer, from: number, length: number): number {
    scanner ??= loadScanner();
    const { bytes, words, out } = scanner;
    bytes.set(b.subarray(from, from + length), 0);
    const hash = this.hash;
    let start = 0;
    for (;;) {
      const found = scanner.scan(start, length, this.quote, out, MAX_RECORDS);
      for (let r = 0, o = out >>> 2; r < found; r++, o += 5) {
        const end = words[o]!;
        hash[0] = words[o + 1]!;
        hash[1] = words[o + 2]!;
        hash[2] = words[o + 3]!;
        hash[3] = words[o + 4]!;
        this.records++;
        this.onRecord(b, from + start, from + end, hash);
        start = end + 1;
      }
      if (found < MAX_RECORDS) {
        if (start > 0) this.onRun?.(b, from, from + start);
        return start;
      }
    }
  }

  private emit(b: Uint8Array, start: number, end: number): void {
    this.records++;
    murmur3x86_128(b, start, end, this.hash);
    this.onRecord(b, start, end, this.hash);
    this.onRun?.(b, start, end);
  }
}

/**
 * The "\n" ending the CSV record that starts at `from` (inside quotes if `open`), with `quote` its
 * quote byte; -1 when b does not hold it.
 */
function recordEnd(b: Buffer, from: number, open: boolean, quote: number): number {
  let pos = from;
  if (open) {
    const close = b.indexOf(quote, pos);
    if (close < 0) return -1;
    pos = close + 1;
  }
  let nl = b.indexOf(LF, pos);
  for (;;) {
    if (nl < 0) return -1;
    const opening = b.indexOf(quote, pos);
    if (opening < 0 || opening > nl) return nl;
    // A doubled quote inside a quoted field reads as a close and an open: the parity holds.
    const close = b.indexOf(quote, opening + 1);
    if (close < 0) return -1;
    pos = close + 1;
    if (nl < pos) nl = b.indexOf(LF, pos);
  }
}

/** Whether a quoted section is open after b[from, to), given the state at `from`. */
function openAfter(b: Uint8Array, from: number, to: number, open: boolean, quote: number): boolean {
  let o = open;
  for (let k = from; k < to; k++) if (b[k] === quote) o = !o;
  return o;
}
