/**
 * Snappy compression (the raw format Parquet pages use). The work is snappy.wasm's (its source,
 * snappy.wat, says how): the input is copied into the module's memory a window at a time, and each
 * window's compressed bytes out. A window is whole 64 KiB blocks, Snappy's unit, so the stream is
 * the same as if the input were compressed in one call. Why not hyparquet-writer's own copy of the
 * algorithm: it writes every literal and copy through a DataView-backed ByteWriter that grows by
 * doubling, ~0.8 s of CPU per million rows of a Parquet copy; this JavaScript's own earlier port
 * took ~0.2 s, and a native binding (npm snappy) measured only ~1.2x faster than that.
 */
import { instantiate, type WasmMemory } from "../wasm.ts";

/** Input bytes compressed per call into the module: sixteen blocks. */
const WINDOW = 1 << 20;
/** The most a window's compressed bytes take (Snappy's bound). */
const WORST = 32 + WINDOW + Math.floor(WINDOW / 6);
/** Where the output starts: after the window and the 16 bytes loads may read past it. */
const OUT = WINDOW + 64;
/** The hash table: 2^14 two-byte positions. */
const TABLE = OUT + WORST + 64;

interface Compressor {
  compress(n: number): number;
  bytes: Uint8Array;
}

let compressor: Compressor | undefined;

function loadCompressor(): Compressor {
  const exports = instantiate<{
    memory: WasmMemory;
    compress(n: number): number;
    out: { value: number };
    table: { value: number };
  }>(new URL("./snappy.wasm", import.meta.url), TABLE + (2 << 14));
  exports.out.value = OUT;
  exports.table.value = TABLE;
  return { compress: exports.compress, bytes: new Uint8Array(exports.memory.buffer) };
}

let scratch = new Uint8Array(0);

/** Snappy-compressed bytes of input (a new array of exactly their length). */
export function snappyCompress(input: Uint8Array): Uint8Array {
  compressor ??= loadCompressor();
  const { bytes } = compressor;
  const n = input.length;
  const worst = 32 + n + Math.floor(n / 6);
  if (scratch.length < worst) scratch = new Uint8Array(Math.max(worst, scratch.length * 2));
  const out = scratch;
  let op = 0;
  let v = n;
  while (v >= 0x80) {
    out[op++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[op++] = v;
  for (let pos = 0; pos < n; pos += WINDOW) {
    const length = Math.min(WINDOW, n - pos);
    bytes.set(input.subarray(pos, pos + length), 0);
    const written = compressor.compress(length);
    out.set(bytes.subarray(OUT, OUT + written), op);
    op += written;
  }
  return out.slice(0, op);
}
