/**
 * Snappy compression (the raw format Parquet pages use), after snappyjs (MIT, Zhipeng Jia), the
 * same algorithm as hyparquet-writer's copy of it. Why our own: that copy writes every literal and
 * copy through a DataView-backed ByteWriter that grows by doubling; on a Parquet copy's pages
 * (mostly literals) that was ~0.8 s of CPU per million rows, the largest cost of the columnar path.
 * Here output goes straight into one reused Uint8Array sized for the worst case, literals copied
 * with set(), four-byte loads go through a DataView, and the result is one exact-size copy: several
 * times faster on those pages.
 */

const BLOCK = 1 << 16;
const MAX_HASH_TABLE_BITS = 14;
const INPUT_MARGIN = 15;
const hashTables: Uint16Array[] = [];
let scratch = new Uint8Array(0);

function hash(key: number, shift: number): number {
  return Math.imul(key, 0x1e35a7bd) >>> shift;
}

function emitLiteral(input: Uint8Array, ip: number, len: number, out: Uint8Array, op: number): number {
  const n = len - 1;
  if (n < 60) out[op++] = n << 2;
  else if (n < 256) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  }
  if (len > 16) out.set(input.subarray(ip, ip + len), op);
  else for (let i = 0; i < len; i++) out[op + i] = input[ip + i]!;
  return op + len;
}

function emitCopyUpTo64(out: Uint8Array, op: number, offset: number, len: number): number {
  if (len < 12 && offset < 2048) {
    out[op] = 1 + ((len - 4) << 2) + ((offset >>> 8) << 5);
    out[op + 1] = offset & 0xff;
    return op + 2;
  }
  out[op] = 2 + ((len - 1) << 2);
  out[op + 1] = offset & 0xff;
  out[op + 2] = offset >>> 8;
  return op + 3;
}

function emitCopy(out: Uint8Array, op: number, offset: number, len: number): number {
  let n = len;
  let o = op;
  while (n >= 68) {
    o = emitCopyUpTo64(out, o, offset, 64);
    n -= 64;
  }
  if (n > 64) {
    o = emitCopyUpTo64(out, o, offset, 60);
    n -= 60;
  }
  return emitCopyUpTo64(out, o, offset, n);
}

/** Compresses input[start, start+size), size at most 64 KiB, into out from op. */
function compressFragment(
  input: Uint8Array,
  view: DataView,
  start: number,
  size: number,
  out: Uint8Array,
  op: number,
): number {
  let bits = 1;
  while (1 << bits <= size && bits <= MAX_HASH_TABLE_BITS) bits++;
  bits--;
  const shift = 32 - bits;
  let table = hashTables[bits];
  if (!table) {
    table = new Uint16Array(1 << bits);
    hashTables[bits] = table;
  } else table.fill(0);

  const end = start + size;
  let o = op;
  let nextEmit = start;
  if (size >= INPUT_MARGIN) {
    const limit = end - INPUT_MARGIN;
    let ip = start + 1;
    let nextHash = hash(view.getInt32(ip, true), shift);
    outer: for (;;) {
      let skip = 32;
      let nextIp = ip;
      let candidate: number;
      do {
        ip = nextIp;
        const h = nextHash;
        nextIp = ip + (skip++ >>> 5);
        if (ip > limit) break outer;
        nextHash = nextIp <= limit ? hash(view.getInt32(nextIp, true), shift) : 0;
        candidate = start + table[h]!;
        table[h] = ip - start;
      } while (view.getInt32(ip, true) !== view.getInt32(candidate, true));

      o = emitLiteral(input, nextEmit, ip - nextEmit, out, o);
      for (;;) {
        const base = ip;
        let matched = 4;
        while (ip + matched < end && input[ip + matched] === input[candidate + matched]) matched++;
        ip += matched;
        o = emitCopy(out, o, base - candidate, matched);
        nextEmit = ip;
        if (ip >= limit) break outer;
        table[hash(view.getInt32(ip - 1, true), shift)] = ip - 1 - start;
        const h = hash(view.getInt32(ip, true), shift);
        candidate = start + table[h]!;
        table[h] = ip - start;
        if (view.getInt32(ip, true) !== view.getInt32(candidate, true)) break;
      }
      ip++;
      nextHash = hash(view.getInt32(ip, true), shift);
    }
  }
  if (nextEmit < end) o = emitLiteral(input, nextEmit, end - nextEmit, out, o);
  return o;
}

/** Snappy-compressed bytes of input (a new array of exactly their length). */
export function snappyCompress(input: Uint8Array): Uint8Array {
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
  // Four-byte loads through a DataView: one load each, where byte-by-byte was four.
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  for (let pos = 0; pos < n; pos += BLOCK)
    op = compressFragment(input, view, pos, Math.min(BLOCK, n - pos), out, op);
  return out.slice(0, op);
}
