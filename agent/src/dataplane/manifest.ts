/**
 * The names a job writes under its sink folder and the `_SUCCESS` manifest, without I/O.
 *
 * - Parts: `part-<index>-<job>-a<attempt>.<ext>`; `<job>` is the first 12 hex digits of the
 *   CopyJob's uid, so files of another job (writeMode Overwrite replaces them only at the end) and
 *   of other attempts of this job never share a name.
 * - `_ferry/plan-<job>.json`: the partition plan, created by the first attempt.
 * - `_ferry/parts/<part>.json`: a part's metadata, on sinks without blob metadata (file share).
 * - `_SUCCESS`: written last; lists exactly one part per partition. Readers should trust it rather
 *   than a folder listing: a part left by a crashed or fenced-off attempt may exist until the next
 *   run cleans it up. Names starting with `_` are ignored by Spark, Hive and most lake readers.
 */
import type { CsvDialect, Schema } from "./types.ts";

export const MANIFEST_NAME = "_SUCCESS";

export function jobTag(uid: string): string {
  const hex = uid.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  if (hex.length < 12) throw new Error(`job uid ${uid} is too short to name files by`);
  return hex.slice(0, 12);
}

export function partName(index: number, tag: string, attempt: number, extension: string): string {
  return `part-${String(index).padStart(5, "0")}-${tag}-a${attempt}.${extension}`;
}

export function planName(tag: string): string {
  return `_ferry/plan-${tag}.json`;
}

/** True for files this job wrote (parts of any attempt, temporary files, its plan and metadata). */
export function isOwnFile(name: string, tag: string): boolean {
  return name.includes(tag);
}

export interface ManifestPart {
  partition: string;
  file: string;
  uri: string;
  attempt: number;
  rows: number;
  bytes: number;
  /** sha256 of the file's bytes, "sha256:<hex>". */
  checksum: string;
  /** Order-independent checksum of the rows (checksum.ts), "murmur3-rowsum128:<hex>". */
  contentChecksum: string;
}

export interface Manifest {
  version: 1;
  job: { uid: string; name: string; namespace?: string };
  /** The attempt that wrote the manifest. */
  attempt: number;
  format: string;
  compression: string;
  csv?: CsvDialect;
  schema: Schema;
  watermark?: string;
  parts: ManifestPart[];
  rows: number;
  bytes: number;
  checksum: string;
  contentChecksum: string;
}

export function parseManifest(data: Buffer): Manifest | undefined {
  try {
    const m = JSON.parse(data.toString("utf8")) as Manifest;
    return m && m.version === 1 && Array.isArray(m.parts) && m.job?.uid ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Files to keep after the manifest is written: its parts and their metadata, the plan, itself. */
export function keptFiles(manifest: Manifest, tag: string): Set<string> {
  const keep = new Set<string>([MANIFEST_NAME, planName(tag)]);
  for (const p of manifest.parts) {
    keep.add(p.file);
    keep.add(`_ferry/parts/${p.file}.json`);
  }
  return keep;
}
