/**
 * The copy runner: one attempt of a CopyJob, from plan to manifest.
 *
 * Exactly-once, and why it holds:
 *
 * 1. The partition plan is made once per job and stored in the sink (`_ferry/plan-<job>.json`,
 *    create-only). Every attempt, on any node, reads the same plan, so partition ids mean the same
 *    key ranges forever, even if the table changed between attempts.
 * 2. A partition is copied into a part whose name includes the attempt and is committed atomically
 *    and create-only (blob: one commitBlockList with If-None-Match: *; file share: link() of a
 *    finished temporary file). `fence()` — the agent's check that this worker still holds the job's
 *    attempt — runs right before every commit, and `onPartitionCommitted` must persist the
 *    partition in CopyJob.status.checkpoint before the next one is reported. The `last` one (it
 *    completes the plan) may instead be persisted with the job's final status: the manifest
 *    follows at once and lists it, and an attempt that dies between the two only copies that
 *    partition again.
 * 3. A retry skips the partitions of the checkpoint (after checking their part still exists) and
 *    redoes the others. Parts of an interrupted attempt that never reached the checkpoint are
 *    orphans: ignored, then deleted once the manifest is written.
 * 4. `_SUCCESS` is written last and lists exactly one part per partition (the checkpoint's). It is
 *    created with If-None-Match: * (or, with writeMode Overwrite over another job's manifest,
 *    replaced with If-Match on the ETag read), so a zombie attempt that passed its fence just before
 *    losing the job cannot clobber a newer attempt's manifest; finding this job's manifest already
 *    there means the job is done.
 *
 * 5. A part no checkpoint names (the `last` one, or one whose checkpoint write was refused because
 *    the job moved on: AttemptLostError) is this attempt's alone: when the attempt ends without
 *    its manifest — fenced, failed, or finding another attempt's manifest already written — it
 *    deletes such parts, and any of its parts that manifest does not list. So a zombie that passed
 *    its last fence just before losing the job does not leave its late part behind the newer
 *    attempt's clean-up.
 *
 * The same rows therefore appear exactly once in the parts the manifest lists, whatever was killed
 * when. What it does not promise: a folder listing may briefly show an orphan part of a zombie
 * attempt (or, if its process dies too, until the job's files are removed); the manifest is the
 * truth.
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { CommittedPartition, CopyActivitySpec, CopyOutput, CopyProgress } from "@ferry/crds";
import {
  CANONICAL_CSV,
  ContentChecksum,
  combineContentChecksums,
  combineFileChecksums,
  FileChecksum,
  isCanonicalDialect,
} from "./checksum.ts";
import { connectorFor } from "./connectors/index.ts";
import {
  AttemptLostError,
  CancelledError,
  DataPlaneError,
  isAbort,
  permanent,
  unknownError,
} from "./errors.ts";
import { CsvParser, csvDialect } from "./formats/csv.ts";
import { CsvRecordSplitter } from "./formats/csv-records.ts";
import {
  contentType,
  createCsvBytesEncoder,
  createEncoder,
  fileExtension,
  gzipsFile,
  type OutputFormat,
} from "./formats/index.ts";
import {
  isOwnFile,
  jobTag,
  keptFiles,
  MANIFEST_NAME,
  type Manifest,
  type ManifestPart,
  parseManifest,
  partName,
  planName,
} from "./manifest.ts";
import { ProgressTracker } from "./progress.ts";
import type {
  CsvDialect,
  Logger,
  PartitionPlan,
  PartitionSpec,
  Sink,
  SinkOptions,
  Source,
  StoreConfig,
} from "./types.ts";
import { rowFields } from "./values.ts";

export interface CopyJobRef {
  /** metadata.uid: names the job's files, so it must not change across attempts. */
  uid: string;
  name: string;
  namespace?: string;
  spec: CopyActivitySpec;
}

/** A committed partition as reported to the agent: the CRD's CommittedPartition, and more. */
export interface CommittedPartitionInfo extends CommittedPartition {
  id: string;
  rows: number;
  bytes: number;
  checksum: string;
  uri: string;
  /** The part's order-independent row checksum (proposed CRD field; recovered from the sink if absent). */
  contentChecksum: string;
  /** The part's name under the sink folder. */
  file: string;
  attempt: number;
  /** The partition that completes the plan: the manifest comes next (see the header, rule 2). */
  last?: boolean;
}

export interface CopyTuning {
  /** Rows per batch read from a source (default 10,000). */
  batchRows?: number;
  /** Least time between two onProgress calls (default 1000 ms). */
  progressIntervalMs?: number;
  /** Auto partitioning targets (defaults in partitioning.ts). */
  targetRowsPerPartition?: number;
  targetBytesPerPartition?: number;
  /** Parquet rows per row group (default 100,000). */
  rowGroupRows?: number;
  sink?: SinkOptions;
}

export interface RunCopyOptions {
  job: CopyJobRef;
  /** The source and sink DataStores with their decrypted credentials. */
  source: StoreConfig;
  sink: StoreConfig;
  /** This attempt's number (CopyJob.status.attempt), from 1. */
  attempt: number;
  /** CopyJob.status.checkpoint.committedPartitions. */
  checkpoint?: readonly (CommittedPartition & { contentChecksum?: string })[];
  /**
   * Persist the partition in the checkpoint. Calls never overlap (one at a time, in commit order),
   * and the partition counts as done only once the returned promise resolves. Reject with
   * AttemptLostError when the write was refused because the job is no longer this attempt's.
   */
  onPartitionCommitted?: (partition: CommittedPartitionInfo) => Promise<void>;
  onProgress?: (progress: CopyProgress) => void;
  /** Throws when this worker no longer holds the job's attempt; called right before every commit. */
  fence?: () => Promise<void>;
  signal?: AbortSignal;
  log?: Logger;
  tuning?: CopyTuning;
}

export interface CopyResult {
  /** For CopyJob.status.output. */
  output: CopyOutput & { contentChecksum: string };
  manifest: Manifest;
  partitions: CommittedPartitionInfo[];
  /** True when the job's manifest was already there (an earlier attempt finished). */
  alreadyDone: boolean;
  progress: CopyProgress;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function outputFormat(spec: CopyActivitySpec, tuning?: CopyTuning): OutputFormat {
  return {
    format: spec.sink.format,
    compression: spec.sink.compression ?? "None",
    csv: csvDialect(spec.sink.csv),
    ...(tuning?.rowGroupRows ? { rowGroupRows: tuning.rowGroupRows } : {}),
  };
}

/** A checkpoint entry's part name: the last segment of its URI. */
function fileFromUri(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  const last = uri
    .replace(/[?#].*$/, "")
    .split("/")
    .at(-1);
  return last ? decodeURIComponent(last) : undefined;
}

function infoFromMetadata(
  id: string,
  file: string,
  uri: string,
  meta: Record<string, string>,
  fallback: CommittedPartition & { contentChecksum?: string },
): CommittedPartitionInfo | undefined {
  const rows = meta.ferryrows !== undefined ? Number(meta.ferryrows) : fallback.rows;
  const bytes = meta.ferrybytes !== undefined ? Number(meta.ferrybytes) : fallback.bytes;
  const checksum = meta.ferrysha256 ?? fallback.checksum;
  const contentChecksum = meta.ferrycontent ?? fallback.contentChecksum;
  if (rows === undefined || bytes === undefined || !checksum || !contentChecksum) return undefined;
  return { id, file, uri, rows, bytes, checksum, contentChecksum, attempt: Number(meta.ferryattempt ?? 0) };
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

export async function runCopy(options: RunCopyOptions): Promise<CopyResult> {
  const log = options.log ?? silent;
  const outer = options.signal ?? new AbortController().signal;
  const spec = options.job.spec;
  const tag = jobTag(options.job.uid);
  const out = outputFormat(spec, options.tuning);
  const writeMode = spec.sink.writeMode ?? "FailIfExists";
  const agentFence = options.fence;
  const fence = async () => {
    if (!agentFence) return;
    try {
      await agentFence();
    } catch (err) {
      throw new DataPlaneError(
        "Fenced",
        `this worker no longer holds the job's attempt ${options.attempt}: ${(err as Error)?.message ?? err}`,
        false,
        { cause: err },
      );
    }
  };
  const sourceConnector = await connectorFor(options.source.type);
  const sinkConnector = await connectorFor(options.sink.type);
  if (!sourceConnector.openSource) {
    throw permanent("UnsupportedSource", `a ${options.source.type} data store cannot be a copy source`);
  }
  if (!sinkConnector.openSink) {
    throw permanent("UnsupportedSink", `a ${options.sink.type} data store cannot be a copy sink`);
  }
  const source = sourceConnector.openSource(options.source);
  const sink = sinkConnector.openSink(options.sink, spec.sink.path, options.tuning?.sink);
  const parts = { committed: new Set<string>(), unclaimed: new Set<string>() };
  try {
    if (outer.aborted) throw new CancelledError();
    let chain: Promise<void> = Promise.resolve();
    const reportCommitted = (info: CommittedPartitionInfo) => {
      const call = chain.then(() => options.onPartitionCommitted?.(info));
      chain = call.catch(() => {});
      return call;
    };
    return await copy({
      ...options,
      parts,
      log,
      signal: outer,
      tag,
      out,
      writeMode,
      fence,
      source,
      sink,
      reportCommitted,
    });
  } catch (err) {
    // Rule 5: ended without its manifest, so no one can reuse what no checkpoint names.
    await dropParts(sink, [...parts.unclaimed], log, "no checkpoint names it and the attempt ended");
    if (outer.aborted && isAbort(err)) throw new CancelledError();
    if (err instanceof DataPlaneError) throw err;
    throw unknownError(err, { what: "copy" });
  } finally {
    await source.close().catch(() => {});
    await sink.close().catch(() => {});
  }
}

interface Run extends Omit<RunCopyOptions, "source" | "sink"> {
  /** Parts this attempt committed, and those of them no checkpoint names (rule 5). */
  parts: { committed: Set<string>; unclaimed: Set<string> };
  /** onPartitionCommitted, one call at a time in commit order (the agent's status writes never race). */
  reportCommitted: (info: CommittedPartitionInfo) => Promise<void>;
  log: Logger;
  signal: AbortSignal;
  tag: string;
  out: OutputFormat;
  writeMode: "Overwrite" | "FailIfExists";
  fence: () => Promise<void>;
  source: Source;
  sink: Sink;
}

function resultOf(manifest: Manifest, sink: Sink, alreadyDone: boolean, progress: CopyProgress): CopyResult {
  const partitions = manifest.parts.map(
    (p): CommittedPartitionInfo => ({
      id: p.partition,
      file: p.file,
      uri: p.uri,
      rows: p.rows,
      bytes: p.bytes,
      checksum: p.checksum,
      contentChecksum: p.contentChecksum,
      attempt: p.attempt,
    }),
  );
  return {
    output: {
      uris: manifest.parts.map((p) => p.uri),
      rows: manifest.rows,
      bytes: manifest.bytes,
      checksum: manifest.checksum,
      contentChecksum: manifest.contentChecksum,
      manifestUri: sink.uri(MANIFEST_NAME),
      ...(manifest.watermark !== undefined ? { watermark: manifest.watermark } : {}),
    },
    manifest,
    partitions,
    alreadyDone,
    progress,
  };
}

async function copy(run: Run): Promise<CopyResult> {
  const { sink, log, tag, job } = run;
  const entries = await sink.list();
  let foreignManifest: { etag: string } | undefined;
  if (entries.some((e) => e.name === MANIFEST_NAME)) {
    const existing = await sink.read(MANIFEST_NAME);
    const manifest = existing && parseManifest(existing.data);
    if (manifest && manifest.job.uid === job.uid) {
      log.info(
        { manifest: sink.uri(MANIFEST_NAME) },
        "the job's manifest is already written; nothing to copy",
      );
      const progress: CopyProgress = {
        rows: manifest.rows,
        bytes: manifest.bytes,
        partitionsDone: manifest.parts.length,
        partitionsTotal: manifest.parts.length,
        rowsPerSecond: 0,
        bytesPerSecond: 0,
        percent: 100,
      };
      return resultOf(manifest, sink, true, progress);
    }
    if (existing) foreignManifest = { etag: existing.etag };
  }
  const foreign = entries.filter((e) => !isOwnFile(e.name, tag));
  if (run.writeMode === "FailIfExists" && foreign.length > 0) {
    const sample = foreign
      .slice(0, 3)
      .map((e) => e.name)
      .join(", ");
    throw permanent(
      "PathNotEmpty",
      `${sink.uri("")} already holds ${foreign.length} file(s) of another job (${sample}${foreign.length > 3 ? ", ..." : ""}); choose another sink.path, delete them, or set writeMode: Overwrite`,
    );
  }

  // The listing tells whether a plan is stored: a job's first attempt skips reading it.
  const plan = await loadOrCreatePlan(
    run,
    entries.some((e) => e.name === planName(tag)),
  );
  const checkpoint = new Map((run.checkpoint ?? []).map((c) => [c.id, c]));
  const committed = new Map<string, CommittedPartitionInfo>();
  const progress = new ProgressTracker({
    partitions: plan.partitions,
    emit: run.onProgress,
    ...(run.tuning?.progressIntervalMs !== undefined ? { intervalMs: run.tuning.progressIntervalMs } : {}),
  });

  // Partitions of the checkpoint whose part is still there are done; any other is copied again.
  const known = new Set(plan.partitions.map((p) => p.id));
  for (const id of checkpoint.keys()) {
    if (!known.has(id))
      log.warn({ partition: id }, "checkpoint names a partition the plan does not have; ignored");
  }
  await mapLimit(
    plan.partitions.filter((p) => checkpoint.has(p.id)),
    8,
    async (p) => {
      const c = checkpoint.get(p.id)!;
      const file = fileFromUri(c.uri);
      const meta = file ? await sink.partMetadata(file) : undefined;
      const info = file && meta ? infoFromMetadata(p.id, file, sink.uri(file), meta, c) : undefined;
      if (!info) {
        log.warn(
          { partition: p.id, uri: c.uri },
          "a committed partition's part is missing from the sink; copying it again",
        );
        return;
      }
      committed.set(p.id, info);
      progress.alreadyCommitted(p.id, info.rows, info.bytes);
    },
  );
  const todo = plan.partitions.filter((p) => !committed.has(p.id));
  log.info(
    { partitions: plan.partitions.length, committed: committed.size, todo: todo.length },
    todo.length === plan.partitions.length ? "copying" : "resuming",
  );
  progress.emitNow();

  // Reports come one at a time in commit order, so the one that completes the plan is the last.
  const reported = new Set(committed.keys());
  const partitionRun: Run = {
    ...run,
    reportCommitted: async (info) => {
      reported.add(info.id);
      const last = reported.size === plan.partitions.length;
      try {
        await run.reportCommitted({ ...info, last });
      } catch (err) {
        // A write whose answer was lost may have named the part: only a refusal leaves it unclaimed.
        if (!(err instanceof AttemptLostError)) run.parts.unclaimed.delete(info.file);
        throw err;
      }
      // The last one is named by the manifest, next (rule 2).
      if (!last) run.parts.unclaimed.delete(info.file);
    },
  };

  // Copy, up to `parallelism` partitions at once; the first failure stops the others.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(run.signal.reason);
  run.signal.addEventListener("abort", onOuterAbort, { once: true });
  let firstError: unknown;
  try {
    await mapLimit(todo, run.job.spec.parallelism ?? 4, async (p) => {
      if (stop.signal.aborted) return;
      try {
        const info = await copyPartition(partitionRun, plan, p, stop.signal, progress);
        committed.set(p.id, info);
      } catch (err) {
        if (firstError === undefined && !(stop.signal.aborted && isAbort(err))) firstError = err;
        stop.abort(err);
      }
    });
  } finally {
    run.signal.removeEventListener("abort", onOuterAbort);
  }
  if (run.signal.aborted) throw new CancelledError();
  if (firstError !== undefined) throw firstError;

  // Every partition is committed: write the manifest, last.
  await run.fence();
  const parts: ManifestPart[] = plan.partitions.map((p) => {
    const c = committed.get(p.id)!;
    return {
      partition: p.id,
      file: c.file,
      uri: c.uri,
      attempt: c.attempt,
      rows: c.rows,
      bytes: c.bytes,
      checksum: c.checksum,
      contentChecksum: c.contentChecksum,
    };
  });
  const spec = run.job.spec;
  const manifest: Manifest = {
    version: 1,
    job: { uid: job.uid, name: job.name, ...(job.namespace ? { namespace: job.namespace } : {}) },
    attempt: run.attempt,
    format: spec.sink.format,
    compression: run.out.compression,
    ...(spec.sink.format === "Csv" ? { csv: run.out.csv } : {}),
    schema: plan.schema,
    ...(plan.watermark?.upTo !== undefined ? { watermark: plan.watermark.upTo } : {}),
    parts,
    rows: parts.reduce((a, p) => a + p.rows, 0),
    bytes: parts.reduce((a, p) => a + p.bytes, 0),
    checksum: combineFileChecksums(parts.map((p) => p.checksum)),
    contentChecksum: combineContentChecksums(parts.map((p) => p.contentChecksum)),
  };
  const written = await writeManifest(run, manifest, foreignManifest);
  if (written !== manifest) {
    // Another attempt finished the job first: what of this one's it does not list is an orphan.
    const listed = new Set(written.parts.map((p) => p.file));
    const orphans = [...run.parts.committed].filter((f) => !listed.has(f));
    run.parts.unclaimed.clear();
    await dropParts(sink, orphans, log, "another attempt's manifest does not list it");
    return resultOf(written, sink, true, progress.snapshot(true));
  }
  run.parts.unclaimed.clear();

  // Only now: drop orphans of this job and, with Overwrite, the files of the job replaced.
  const keep = keptFiles(manifest, tag);
  const after = await sink.list();
  const remove = after.filter(
    (e) => !keep.has(e.name) && (isOwnFile(e.name, tag) || run.writeMode === "Overwrite"),
  );
  await mapLimit(remove, 8, async (e) => {
    await sink
      .delete(e.name)
      .catch((err) => log.warn({ file: e.name, err: String(err) }, "could not delete"));
  });
  if (remove.length > 0) log.info({ deleted: remove.length }, "removed files not in the manifest");
  progress.emitNow(true);
  return resultOf(manifest, sink, false, progress.snapshot(true));
}

/** How long an ending attempt waits for its unclaimed parts' deletes (a sink that is down retries). */
const DROP_WAIT_MS = 10_000;

/**
 * Deletes `files` of the sink folder, best effort: an orphan left is harmless (rule 3), so an
 * attempt that fails because its sink is down does not wait out the deletes' retries to say so.
 */
async function dropParts(sink: Sink, files: string[], log: Logger, why: string): Promise<void> {
  if (files.length === 0) return;
  let deleted = 0;
  const all = mapLimit(files, 8, async (file) => {
    try {
      await sink.delete(file);
      deleted++;
    } catch (err) {
      log.warn({ file, err: String(err) }, "could not delete an unclaimed part");
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, DROP_WAIT_MS);
  });
  await Promise.race([all, waited]);
  clearTimeout(timer);
  log.info({ deleted, files }, `deleted this attempt's parts: ${why}`);
}

/**
 * The job's plan: the stored one when `listed` (the attempt's listing of the folder holds it), else
 * a new one from the source, stored only if no other attempt stored one first (one created after
 * the listing makes the create fail, and that one is read).
 */
async function loadOrCreatePlan(run: Run, listed: boolean): Promise<PartitionPlan> {
  const name = planName(run.tag);
  const stored = listed ? await run.sink.read(name) : undefined;
  if (stored) return parsePlan(stored.data, run);
  if ((run.checkpoint ?? []).length > 0) {
    throw permanent(
      "PlanMissing",
      `the job has committed partitions but its plan ${run.sink.uri(name)} is gone; the folder was changed by hand. Delete the job's files and create a new CopyJob`,
    );
  }
  const s = run.job.spec.source;
  const plan = await run.source.plan(
    {
      ...(s.table !== undefined ? { table: s.table } : {}),
      ...(s.query !== undefined ? { query: s.query } : {}),
      ...(s.partitioning ? { partitioning: s.partitioning } : {}),
      ...(s.incremental ? { incremental: s.incremental } : {}),
    },
    {
      signal: run.signal,
      log: run.log,
      ...(run.tuning?.targetRowsPerPartition
        ? { targetRowsPerPartition: run.tuning.targetRowsPerPartition }
        : {}),
      ...(run.tuning?.targetBytesPerPartition
        ? { targetBytesPerPartition: run.tuning.targetBytesPerPartition }
        : {}),
    },
  );
  if (await run.sink.create(name, Buffer.from(JSON.stringify(plan)))) {
    // Not "key": the logger censors fields of that name (common/src/log.ts), and this one is no secret.
    run.log.info({ partitions: plan.partitions.length, keyColumn: plan.key?.column }, "planned");
    return plan;
  }
  // Another attempt planned first: its plan is the job's.
  const raced = await run.sink.read(name);
  if (!raced) throw permanent("PlanMissing", `the plan ${run.sink.uri(name)} vanished while being created`);
  const theirs = parsePlan(raced.data, run);
  run.log.info(
    { partitions: theirs.partitions.length },
    "another attempt stored the plan first; copying by it",
  );
  return theirs;
}

function parsePlan(data: Buffer, run: Run): PartitionPlan {
  try {
    const plan = JSON.parse(data.toString("utf8")) as PartitionPlan;
    if (plan.version === 1 && Array.isArray(plan.partitions) && Array.isArray(plan.schema)) return plan;
  } catch {
    // fall through
  }
  throw permanent(
    "PlanCorrupt",
    `the plan ${run.sink.uri(planName(run.tag))} cannot be read; delete the job's files and create a new CopyJob`,
  );
}

/** Creates (or replaces another job's) manifest; returns the manifest that ended up written. */
async function writeManifest(
  run: Run,
  manifest: Manifest,
  foreign: { etag: string } | undefined,
): Promise<Manifest> {
  const data = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  let replaceEtag = foreign?.etag;
  for (let i = 0; i < 5; i++) {
    const ok =
      replaceEtag !== undefined
        ? await run.sink.replace(MANIFEST_NAME, data, replaceEtag)
        : await run.sink.create(MANIFEST_NAME, data);
    if (ok) return manifest;
    const now = await run.sink.read(MANIFEST_NAME);
    const other = now && parseManifest(now.data);
    if (other && other.job.uid === run.job.uid) {
      run.log.warn({ attempt: other.attempt }, "another attempt of this job wrote the manifest first");
      return other;
    }
    if (now && run.writeMode === "FailIfExists") {
      throw permanent(
        "PathNotEmpty",
        `another job wrote ${run.sink.uri(MANIFEST_NAME)} while this one was copying`,
      );
    }
    replaceEtag = now?.etag;
  }
  throw permanent("ManifestConflict", `could not write ${run.sink.uri(MANIFEST_NAME)}: it keeps changing`);
}

async function copyPartition(
  run: Run,
  plan: PartitionPlan,
  partition: PartitionSpec,
  signal: AbortSignal,
  progress: ProgressTracker,
): Promise<CommittedPartitionInfo> {
  const { sink, out } = run;
  const data = await run.source.read(plan, partition, {
    signal,
    format: out.format,
    // Into Parquet or JSON Lines, CSV bytes are parsed (formats/parquet-csv.ts, jsonl-csv.ts): only
    // the canonical dialect is.
    csv: out.format === "Csv" ? out.csv : { ...CANONICAL_CSV },
    batchRows: run.tuning?.batchRows ?? 10_000,
  });
  const file = partName(partition.index, run.tag, run.attempt, fileExtension(out));
  const writer = await sink.openPart(file, contentType(out));
  const fileSum = new FileChecksum();
  const content = new ContentChecksum();
  const kinds = plan.schema.map((c) => c.kind);
  const width = plan.schema.length;
  let rows = 0;
  let checksum = "";

  async function* encoded(): AsyncGenerator<Uint8Array> {
    if (data.kind === "csv" && out.format !== "Csv") {
      // Fast path into Parquet or JSON Lines: each canonical record is hashed where it lies, and its
      // fields are parsed into columns or copied into an object.
      const encoder = createCsvBytesEncoder(out, plan.schema, (_b, _start, _end, hash) =>
        content.addHash(hash),
      );
      const counted = (parts: Uint8Array[]) => {
        progress.addRows(partition.id, encoder.rows - rows);
        rows = encoder.rows;
        return parts;
      };
      yield* encoder.start();
      for await (const chunk of data.bytes) yield* counted(encoder.push(chunk));
      yield* counted(encoder.finish());
      return;
    }
    const encoder = createEncoder(out, plan.schema);
    yield* encoder.start();
    if (data.kind === "rows") {
      for await (const batch of data.batches) {
        for (const row of batch) content.addFields(rowFields(kinds, row));
        rows += batch.length;
        progress.addRows(partition.id, batch.length);
        yield* encoder.encode(batch);
      }
      yield* encoder.finish();
      return;
    }
    // Fast path: the bytes are already the output; look at them only to count and checksum rows.
    const records = csvRecordCounter(out.csv, width, content);
    const counted = (step: () => void) => {
      const before = rows;
      step();
      rows = records.count();
      progress.addRows(partition.id, rows - before);
    };
    for await (const chunk of data.bytes) {
      counted(() => records.push(chunk));
      yield chunk;
    }
    counted(() => records.end());
  }

  const sinkStream = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      fileSum.update(chunk);
      progress.addBytes(chunk.byteLength);
      writer.write(chunk).then(() => callback(), callback);
    },
  });
  try {
    const input = Readable.from(encoded(), { objectMode: false, highWaterMark: 1 });
    if (gzipsFile(out)) await pipeline(input, createGzip({ level: 6 }), sinkStream, { signal });
    else await pipeline(input, sinkStream, { signal });
    checksum = fileSum.digest();
    await run.fence();
    await writer.commit({
      ferryjob: run.job.uid,
      ferryattempt: String(run.attempt),
      ferrypartition: partition.id,
      ferryrows: String(rows),
      ferrybytes: String(fileSum.bytes),
      ferrysha256: checksum,
      ferrycontent: content.toString(),
    });
    run.parts.committed.add(file);
    run.parts.unclaimed.add(file);
  } catch (err) {
    await writer.abort();
    progress.discard(partition.id, fileSum.bytes);
    throw err;
  }
  const info: CommittedPartitionInfo = {
    id: partition.id,
    file,
    uri: sink.uri(file),
    rows,
    bytes: fileSum.bytes,
    checksum,
    contentChecksum: content.toString(),
    attempt: run.attempt,
  };
  await run.reportCommitted(info);
  progress.committed(partition.id);
  run.log.debug({ partition: partition.id, rows, bytes: info.bytes }, "partition committed");
  return info;
}

/**
 * Counts and checksums the records of CSV fast-path bytes. In the canonical dialect the bytes of a
 * record are its canonical record, hashed where they lie; in another dialect each record is parsed
 * and its fields hashed, which also checks it has as many fields as the schema.
 */
function csvRecordCounter(
  dialect: CsvDialect,
  width: number,
  content: ContentChecksum,
): { push(chunk: Uint8Array): void; end(): void; count(): number } {
  const canonical = isCanonicalDialect(dialect);
  if (canonical) {
    const splitter = new CsvRecordSplitter(dialect.quote, (_b, _start, _end, hash) => content.addHash(hash));
    return { push: (c) => splitter.push(c), end: () => splitter.end(), count: () => splitter.records };
  }
  const parser = new CsvParser(dialect);
  let n = 0;
  const take = (records: (string | null)[][]) => {
    for (const fields of records) {
      if (fields.length !== width) {
        throw new Error(`CSV fast path: a record has ${fields.length} fields, the schema ${width}`);
      }
      content.addFields(fields);
    }
    n += records.length;
  };
  return { push: (c) => take(parser.push(c)), end: () => take(parser.end()), count: () => n };
}
