/**
 * A work queue of object keys (`namespace/name`), in the manner of client-go's: controllers queue
 * keys, not events, so ten changes to one object while it waits are one reconcile of its latest
 * state.
 *
 * - dedupe: a key queued while already waiting waits once;
 * - serialised per key: a key is never handed to two workers at once; queued again while being
 *   processed, it runs once more after the current run ends (the change it signals may have come
 *   too late for the run in progress);
 * - `addRateLimited` retries a key after a jittered exponential backoff that grows with each
 *   failure of that key until `forget` (call it on success);
 * - `addAfter` is a timer: "come back in N seconds" is a requeue, never a sleep in a worker.
 */
import { type Backoff, backoffDelay } from "./backoff.ts";
import type { Gauge, Metrics } from "./metrics.ts";

export interface WorkQueueOptions {
  /** The controller this queue serves: the `controller` label of its metrics. */
  name?: string;
  metrics?: Metrics;
  /** Per-key retry backoff; 200 ms doubling up to 60 s by default. */
  backoff?: Backoff;
  random?: () => number;
}

const DEFAULT_QUEUE_BACKOFF: Backoff = { baseMs: 200, capMs: 60_000 };

export class WorkQueue {
  readonly name: string;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  readonly #depth: Gauge | undefined;
  readonly #retries: ReturnType<Metrics["counter"]> | undefined;
  /** Keys ready to be processed, in order. */
  readonly #queue: string[] = [];
  /** Keys that need processing: waiting in #queue, or to be queued again when their run ends. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  /** Idle workers waiting for a key. */
  #wakers: (() => void)[] = [];
  #shutDown = false;
  #running = false;

  constructor(options: WorkQueueOptions = {}) {
    this.name = options.name ?? "default";
    this.#backoff = options.backoff ?? DEFAULT_QUEUE_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#depth = options.metrics?.gauge(
      "ferry_workqueue_depth",
      "Keys waiting in a controller's work queue.",
      ["controller"],
    );
    this.#retries = options.metrics?.counter(
      "ferry_workqueue_retries_total",
      "Keys re-queued with backoff after a failure.",
      ["controller"],
    );
    this.#depth?.set({ controller: this.name }, 0);
  }

  /** Keys waiting to be processed (not those being processed or waiting for a timer). */
  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shutDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds `key` after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Adds `key` after its backoff, which doubles with every call until `forget(key)`. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.#retries?.inc({ controller: this.name });
    this.addAfter(key, backoffDelay(failures, this.#backoff, this.#random));
  }

  /** Resets the backoff of `key` (after it was processed successfully). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times `key` was re-queued with backoff since it was last forgotten. */
  requeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * Processes keys with `workers` concurrent calls of `handler` until `signal` aborts; resolves
   * when the runs in progress have finished. A handler that throws has its key re-queued with
   * backoff (handlers that want another policy catch their own errors). Keys still waiting at
   * shutdown are dropped: the next process lists everything anew.
   */
  async run(workers: number, handler: (key: string) => Promise<void>, signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`work queue ${this.name} is already running`);
    this.#running = true;
    if (signal.aborted) this.#shutdown();
    else signal.addEventListener("abort", () => this.#shutdown(), { once: true });
    await Promise.all(Array.from({ length: Math.max(1, workers) }, () => this.#work(handler)));
  }

  async #work(handler: (key: string) => Promise<void>): Promise<void> {
    for (let key = await this.#next(); key !== undefined; key = await this.#next()) {
      try {
        await handler(key);
      } catch {
        this.addRateLimited(key);
      } finally {
        this.#done(key);
      }
    }
  }

  async #next(): Promise<string | undefined> {
    while (!this.#shutDown) {
      const key = this.#queue.shift();
      if (key !== undefined) {
        this.#depthChanged();
        this.#dirty.delete(key);
        this.#processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => this.#wakers.push(resolve));
    }
    return undefined;
  }

  #done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shutDown) this.#push(key);
  }

  #push(key: string): void {
    this.#queue.push(key);
    this.#depthChanged();
    this.#wakers.shift()?.();
  }

  #shutdown(): void {
    this.#shutDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  #depthChanged(): void {
    this.#depth?.set({ controller: this.name }, this.#queue.length);
  }
}
