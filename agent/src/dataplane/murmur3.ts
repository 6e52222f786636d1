/**
 * MurmurHash3, x86 128-bit variant, seed 0 (Austin Appleby's public-domain reference), over a byte
 * range without copying it. The content checksum hashes every copied row with it: it needs spread,
 * not secrecy (the file checksum, sha256, is the one that proves bytes unaltered). Records found in
 * CSV bytes are hashed by formats/csv-records.wasm as they are found; this one hashes the rest
 * (rows given as fields, records split across chunks).
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Hashes b[start, end) into out[0..3] (h1..h4, unsigned). Words are read little-endian, as the
 * reference does on x86, so the result matches other implementations byte for byte.
 */
export function murmur3x86_128(b: Uint8Array, start: number, end: number, out: Uint32Array): void {
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  const len = end - start;
  let i = start;
  const blocksEnd = start + (len & ~15);
  for (; i < blocksEnd; i += 16) {
    let k1 = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    let k2 = b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24);
    let k3 = b[i + 8]! | (b[i + 9]! << 8) | (b[i + 10]! << 16) | (b[i + 11]! << 24);
    let k4 = b[i + 12]! | (b[i + 13]! << 8) | (b[i + 14]! << 16) | (b[i + 15]! << 24);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  finish(b, i, end, len, h1, h2, h3, h4, out);
}

/**
 * The reference's tail (the up to 15 bytes b[i, end) after the last whole block) and finalisation,
 * for a key of `len` bytes whose blocks left h1..h4.
 */
function finish(
  b: Uint8Array,
  i: number,
  end: number,
  len: number,
  h1: number,
  h2: number,
  h3: number,
  h4: number,
  out: Uint32Array,
): void {
  // Into k4..k1 from the last byte down (the reference's fall-through).
  const tail = end - i;
  if (tail > 12) {
    let k4 = 0;
    for (let t = tail - 1; t >= 12; t--) k4 = (k4 << 8) | b[i + t]!;
    h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
  }
  if (tail > 8) {
    let k3 = 0;
    for (let t = Math.min(tail, 12) - 1; t >= 8; t--) k3 = (k3 << 8) | b[i + t]!;
    h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
  }
  if (tail > 4) {
    let k2 = 0;
    for (let t = Math.min(tail, 8) - 1; t >= 4; t--) k2 = (k2 << 8) | b[i + t]!;
    h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
  }
  if (tail > 0) {
    let k1 = 0;
    for (let t = Math.min(tail, 4) - 1; t >= 0; t--) k1 = (k1 << 8) | b[i + t]!;
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}
