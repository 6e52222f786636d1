/**
 * Progress of one copy attempt: rows and bytes (committed partitions of earlier attempts
 * included), partitions done and total, recent rates, and a percent estimated per partition from the
 * plan's row estimates (a partition in flight counts at most 99% of itself). The clock is injected;
 * emission is throttled here and coalesced again by the agent before it writes status.
 */
import type { CopyProgress } from "@ferry/crds";

export type { CopyProgress };

interface Sample {
  t: number;
  rows: number;
  bytes: number;
}

export interface ProgressOptions {
  partitions: { id: string; estimatedRows?: number | undefined }[];
  emit?: ((progress: CopyProgress) => void) | undefined;
  intervalMs?: number;
  /** Window the rates are measured over. */
  windowMs?: number;
  now?: () => number;
}

export class ProgressTracker {
  private rows = 0;
  private bytes = 0;
  private readonly done = new Set<string>();
  private readonly inflightRows = new Map<string, number>();
  private readonly estimates: Map<string, number | undefined>;
  private readonly samples: Sample[] = [];
  private lastEmit = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly windowMs: number;

  private readonly options: ProgressOptions;
  constructor(options: ProgressOptions) {
    this.options = options;
    this.estimates = new Map(options.partitions.map((p) => [p.id, p.estimatedRows]));
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? 1000;
    this.windowMs = options.windowMs ?? 10_000;
    this.samples.push({ t: this.now(), rows: 0, bytes: 0 });
  }

  /** A partition committed by an earlier attempt. */
  alreadyCommitted(id: string, rows: number, bytes: number): void {
    this.done.add(id);
    this.rows += rows;
    this.bytes += bytes;
    // Not a rate of this attempt: shift the baseline.
    for (const s of this.samples) {
      s.rows += rows;
      s.bytes += bytes;
    }
  }

  addRows(id: string, n: number): void {
    this.rows += n;
    this.inflightRows.set(id, (this.inflightRows.get(id) ?? 0) + n);
    this.maybeEmit();
  }

  addBytes(n: number): void {
    this.bytes += n;
  }

  committed(id: string): void {
    this.done.add(id);
    this.inflightRows.delete(id);
    this.emitNow();
  }

  /** A failed partition's rows will be read again: take them back out. */
  discard(id: string, bytes: number): void {
    this.rows -= this.inflightRows.get(id) ?? 0;
    this.bytes -= bytes;
    this.inflightRows.delete(id);
  }

  snapshot(final = false): CopyProgress {
    const t = this.now();
    this.samples.push({ t, rows: this.rows, bytes: this.bytes });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (t - first.t) / 1000;
    const total = this.options.partitions.length;
    let fraction = this.done.size;
    for (const [id, rows] of this.inflightRows) {
      const est = this.estimates.get(id);
      if (est && est > 0) fraction += Math.min(0.99, rows / est);
    }
    const percent = final ? 100 : total === 0 ? 0 : Math.min(99, Math.floor((100 * fraction) / total));
    return {
      rows: this.rows,
      bytes: this.bytes,
      partitionsDone: this.done.size,
      partitionsTotal: total,
      rowsPerSecond: seconds > 0 ? Math.round((this.rows - first.rows) / seconds) : 0,
      bytesPerSecond: seconds > 0 ? Math.round((this.bytes - first.bytes) / seconds) : 0,
      percent,
    };
  }

  maybeEmit(): void {
    if (this.now() - this.lastEmit >= this.intervalMs) this.emitNow();
  }

  emitNow(final = false): void {
    this.lastEmit = this.now();
    this.options.emit?.(this.snapshot(final));
  }
}
