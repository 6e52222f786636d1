/**
 * Controllers and the manager that runs them. A controller names the kinds it watches, maps every
 * change of those kinds to the keys it must reconcile, and reconciles one key at a time: read from
 * the informers' caches, act, and return done or "come back in N ms". The manager owns one
 * informer per watched kind (and label selector), shared by every controller, and one work queue
 * per controller; it starts the workers only once every informer has listed, so no reconcile ever
 * decides from a half-filled cache (that would, say, create a second node pod because the first
 * is not listed yet).
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Kube, KubeObject } from "../kube.ts";
import { DEFAULT_RESYNC_MS, Informer } from "./informer.ts";
import { splitKey } from "./keys.ts";
import type { Counter, Histogram, Metrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";

export interface WatchSpec {
  apiVersion: string;
  kind: string;
  /** Server-side filter; informers are shared per kind and label selector. */
  labelSelector?: string;
  /**
   * The keys (`namespace/name`) to reconcile when an object of this kind changes, e.g. a Pod to
   * the GatewayNode owning it (see `selfKey`, `ownerKeys`). On an update both the old and the new
   * object are mapped, so a relabelled object also wakes the owner it left.
   */
  toKeys(object: KubeObject): string[];
  /**
   * Reconcile the keys this much later instead of at once: every change within the delay is seen
   * by one reconcile. For a kind whose objects change far more often than the owner needs to look
   * (a busy gateway's jobs), so the owner's reconciles do not grow with the changes.
   */
  delayMs?: number;
}

/** Done (undefined), or come back after `requeueAfterMs`. A thrown error retries with backoff. */
export type ReconcileResult = { requeueAfterMs?: number } | undefined;

export interface ReconcileContext {
  /** Carries `{controller, namespace, name}`. */
  log: Logger;
  /** Aborts at shutdown: long steps should stop and let the next leader finish. */
  signal: AbortSignal;
}

export interface Controller {
  /** Names the controller in logs and metrics, e.g. `gateway`. */
  name: string;
  watches: WatchSpec[];
  /**
   * Brings the object of `key` to its desired state. Idempotent: it runs again after every change,
   * every resync, every error. The manager always passes `context`.
   */
  reconcile(key: string, context?: ReconcileContext): Promise<ReconcileResult>;
  /** Keys reconciled concurrently (never the same key twice at once); default 1. */
  workers?: number;
}

export interface ManagerOptions {
  kube: Kube;
  log: Logger;
  metrics: Metrics;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** Resync period of every informer; default 10 minutes, 0 disables. */
  resyncMs?: number;
}

interface Registered {
  controller: Controller;
  queue: WorkQueue;
  log: Logger;
}

export class Manager {
  readonly #options: ManagerOptions;
  readonly #log: Logger;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  readonly #controllers = new Map<string, Registered>();
  readonly #reconciles: Counter;
  readonly #errors: Counter;
  readonly #duration: Histogram;
  #started = false;
  #running = false;
  #stopped: Promise<unknown> = Promise.resolve();

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#reconciles = options.metrics.counter(
      "ferry_reconcile_total",
      "Reconciles by controller and result (success, requeue, error).",
      ["controller", "result"],
    );
    this.#errors = options.metrics.counter(
      "ferry_reconcile_errors_total",
      "Reconciles that failed and were retried with backoff.",
      ["controller"],
    );
    this.#duration = options.metrics.histogram(
      "ferry_reconcile_duration_seconds",
      "How long reconciles take.",
      ["controller"],
    );
  }

  /** Adds a controller; before `start` only. */
  register(controller: Controller): void {
    if (this.#started) throw new Error(`register ${controller.name}: the manager has started`);
    if (this.#controllers.has(controller.name))
      throw new Error(`controller ${controller.name} is registered twice`);
    const log = this.#log.child({ controller: controller.name });
    const queue = new WorkQueue({ name: controller.name, metrics: this.#options.metrics });
    this.#controllers.set(controller.name, { controller, queue, log });
    for (const watch of controller.watches) {
      const informer = this.informer(
        watch.apiVersion,
        watch.kind,
        watch.labelSelector ? { labelSelector: watch.labelSelector } : {},
      );
      const keysOf = (object: KubeObject): string[] => {
        try {
          return watch.toKeys(object);
        } catch (err) {
          log.error({ err, kind: watch.kind, object: object.metadata.name }, "toKeys threw");
          return [];
        }
      };
      informer.on((event) => {
        const keys = new Set(keysOf(event.object));
        if (event.type === "update" && !event.resync) for (const key of keysOf(event.old)) keys.add(key);
        for (const key of keys) {
          if (watch.delayMs) queue.addAfter(key, watch.delayMs);
          else queue.add(key);
        }
      });
    }
  }

  /**
   * The shared informer of a kind (and label selector), created on first request. Reconcilers get
   * theirs when they are built, before `start`: an informer created later would not be waited for.
   * A `transform` (InformerSpec) is the first requester's to give: every user of the informer
   * sees what it keeps, so asking for the informer again with another one is an error.
   */
  informer<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: { labelSelector?: string; transform?: (object: T) => T } = {},
  ): Informer<T> {
    const id = `${apiVersion}/${kind}?${options.labelSelector ?? ""}`;
    let informer = this.#informers.get(id) as Informer<T> | undefined;
    if (!informer) {
      if (this.#started)
        throw new Error(`informer for ${kind}: informers must exist before the manager starts`);
      informer = new Informer<T>(
        this.#options.kube,
        {
          apiVersion,
          kind,
          ...(this.#options.namespace ? { namespace: this.#options.namespace } : {}),
          ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          ...(options.transform ? { transform: options.transform } : {}),
          resyncMs: this.#options.resyncMs ?? DEFAULT_RESYNC_MS,
        },
        this.#log,
        this.#options.metrics,
      );
      this.#informers.set(id, informer as unknown as Informer<KubeObject>);
    } else if (options.transform && informer.spec.transform !== options.transform) {
      throw new Error(`informer for ${kind}: a transform must be given when the informer is first created`);
    }
    return informer;
  }

  /** The work queue of a registered controller (for its depth, or to queue a key by hand). */
  queue(controller: string): WorkQueue | undefined {
    return this.#controllers.get(controller)?.queue;
  }

  /** Every informer has synced and the workers run: what `/readyz` reports. */
  get ready(): boolean {
    return this.#running;
  }

  /**
   * Starts every informer, waits until all have listed once, then starts the workers. Resolves
   * once the workers run; rejects if `signal` aborts first. `stopped()` tells when all is done.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error("the manager has already started");
    this.#started = true;
    const informers = [...this.#informers.values()];
    this.#log.info({ informers: informers.map((i) => i.spec.kind) }, "starting informers");
    const synced = Promise.all(informers.map((i) => i.start(signal)));
    this.#stopped = Promise.all(informers.map((i) => i.stopped()));
    await synced;
    this.#log.info({ controllers: [...this.#controllers.keys()] }, "informers synced; starting workers");
    const workers = [...this.#controllers.values()].map((entry) =>
      entry.queue.run(entry.controller.workers ?? 1, (key) => this.#reconcile(entry, key, signal), signal),
    );
    this.#running = true;
    this.#stopped = Promise.all([this.#stopped, ...workers]).finally(() => {
      this.#running = false;
    });
  }

  /** Resolves when, after the signal aborted, informers are closed and reconciles in flight ended. */
  async stopped(): Promise<void> {
    await this.#stopped;
  }

  /** `start`, then wait until stopped: the shape `onStartedLeading` wants. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.start(signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    await this.stopped();
  }

  async #reconcile({ controller, queue, log }: Registered, key: string, signal: AbortSignal): Promise<void> {
    const labels = { controller: controller.name };
    const keyLog = log.child(splitKey(key));
    const started = performance.now();
    let result: "success" | "requeue" | "error" = "success";
    try {
      const outcome = await controller.reconcile(key, { log: keyLog, signal });
      queue.forget(key);
      if (outcome?.requeueAfterMs !== undefined) {
        result = "requeue";
        queue.addAfter(key, outcome.requeueAfterMs);
      }
    } catch (err) {
      result = "error";
      this.#errors.inc(labels);
      queue.addRateLimited(key);
      keyLog.error({ err, failures: queue.requeues(key) }, "reconcile failed; retrying with backoff");
    } finally {
      this.#reconciles.inc({ ...labels, result });
      this.#duration.observe(labels, (performance.now() - started) / 1000);
    }
  }
}
