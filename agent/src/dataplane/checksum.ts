/**
 * Two checksums per part. The file checksum (sha256 of the bytes as stored) proves a part was not
 * altered. The content checksum proves which rows a part holds whatever their order and format:
 * the sum, modulo 2^128, of the first 128 bits of sha256(canonical row text) over every row
 * (values.ts rowText). Sums add up across parts, so the job's content checksum can be compared with
 * one computed from the source table (a duplicated or missing row changes it), and the same rows
 * give the same checksum in CSV, JSON Lines or Parquet.
 */
import { createHash, hash } from "node:crypto";

export const CONTENT_ALGORITHM = "rowsum128";

const LANE = 2 ** 32;
/** Lanes are plain doubles; normalise carries well before they could exceed 2^53. */
const NORMALISE_EVERY = 1 << 20;

export class ContentChecksum {
  // Most significant lane first.
  private lanes = [0, 0, 0, 0];
  private pending = 0;
  rows = 0;

  addRowText(text: string): void {
    this.addDigest(hash("sha256", text, "buffer"));
  }

  addDigest(digest: Buffer): void {
    const l = this.lanes;
    l[0]! += digest.readUInt32BE(0);
    l[1]! += digest.readUInt32BE(4);
    l[2]! += digest.readUInt32BE(8);
    l[3]! += digest.readUInt32BE(12);
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

export function parseContentChecksum(text: string): string {
  const m = new RegExp(`^${CONTENT_ALGORITHM}:([0-9a-f]{32})$`).exec(text);
  if (!m) throw new Error(`not a content checksum: ${text}`);
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
