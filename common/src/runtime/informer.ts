/**
 * An informer: the objects of one kind kept in a local cache by a list and then a watch, with a
 * callback for every change. It wraps what client-node's informer lacks (see docs/style.md, rule
 * 5): it never gives up. A watch that ends cleanly (its server-side timeout) is resumed from the
 * last resourceVersion; one too old to resume (410 Gone, after etcd compaction) is replaced by a
 * relist whose difference with the cache is delivered as adds, updates and deletes; any other
 * error (API server down, transport, RBAC) is retried with jittered exponential backoff. A
 * periodic resync re-delivers every cached object as an update, so a reconcile that gave up (or a
 * change outside the API) is looked at again. Every restart is logged and counted.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "pino";
import { type Kube, KubeError, type KubeObject, type WatchEvent } from "../kube.ts";
import { type Backoff, backoffDelay } from "./backoff.ts";
import { objectKey } from "./keys.ts";
import type { Counter, Metrics } from "./metrics.ts";
import { ObjectCache, type Store } from "./store.ts";

export interface InformerSpec<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Every this often, every cached object is delivered again as an update. 0: never. Default 10 min. */
  resyncMs?: number;
  /**
   * Bounds of the server-side watch timeout, drawn at random for every watch so that informers
   * started together do not all reconnect together. Default 60 to 300 s.
   */
  watchTimeoutSeconds?: [min: number, max: number];
  /** Backoff between attempts after errors; 500 ms doubling up to 30 s by default. */
  backoff?: Backoff;
  /**
   * What the cache keeps of each object, for caches of many objects whose readers need a few
   * fields (drop managedFields, a finished job's history). Applied to every listed and watched
   * object before it is stored or delivered, so handlers see what the cache holds. Keep
   * metadata.name, namespace and resourceVersion: the cache and its relists go by them.
   */
  transform?: (object: T) => T;
}

/**
 * A change seen by the informer. `update` with `resync: true` is the periodic re-delivery (then
 * `old === object`). For `delete` after a relist, `object` is the last state the cache had.
 */
export type InformerEvent<T> =
  | { type: "add"; object: T }
  | { type: "update"; object: T; old: T; resync: boolean }
  | { type: "delete"; object: T };

export type RestartReason = "timeout" | "gone" | "error" | "stalled";

export const DEFAULT_RESYNC_MS = 10 * 60_000;
/**
 * Objects per list page: a first list of thousands of objects never sits in memory as one
 * response. Smaller than client-go's 500, as parsed JSON takes several times its size in a
 * JavaScript heap, and a smaller page is garbage before the collector promotes it.
 */
const LIST_PAGE_SIZE = 100;
const DEFAULT_BACKOFF: Backoff = { baseMs: 500, capMs: 30_000 };
const DEFAULT_WATCH_TIMEOUT_SECONDS: [number, number] = [60, 300];

export class Informer<T extends KubeObject> {
  readonly spec: Readonly<InformerSpec<T>>;
  /** The cache; read-only for everyone but this informer. */
  readonly store: Store<T>;
  readonly #cache = new ObjectCache<T>();
  readonly #kube: Kube;
  readonly #log: Logger;
  readonly #handlers = new Set<(event: InformerEvent<T>) => void>();
  readonly #events: Counter | undefined;
  readonly #restarts: Counter | undefined;
  readonly #lists: Counter | undefined;
  /** Where the watch resumes; undefined: list first. */
  #resourceVersion: string | undefined;
  #synced = false;
  #markSynced: () => void = () => {};
  /** Set by every watch event: a watch that delivered something resets the error backoff. */
  #progress = false;
  #done: Promise<void> | undefined;

  constructor(kube: Kube, spec: InformerSpec<T>, log: Logger, metrics?: Metrics) {
    this.#kube = kube;
    this.spec = spec;
    this.store = this.#cache;
    this.#log = log.child({
      informer: spec.kind,
      ...(spec.namespace ? { watchNamespace: spec.namespace } : {}),
      ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : {}),
    });
    this.#events = metrics?.counter(
      "ferry_informer_events_total",
      "Changes informers delivered to their handlers (add, update, delete, resync) and bookmarks received.",
      ["kind", "type"],
    );
    this.#restarts = metrics?.counter(
      "ferry_informer_restarts_total",
      "Watches informers started again: timeout (clean end), gone (410, relist), error (backoff), stalled.",
      ["kind", "reason"],
    );
    this.#lists = metrics?.counter("ferry_informer_lists_total", "Full lists made by informers.", ["kind"]);
  }

  /** True once the first list is in the cache. */
  get hasSynced(): boolean {
    return this.#synced;
  }

  /** Registers a handler for every change; returns its removal. Handlers must not throw or block. */
  on(handler: (event: InformerEvent<T>) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  onAdd(handler: (object: T) => void): () => void {
    return this.on((e) => e.type === "add" && handler(e.object));
  }

  /** Also called for resyncs, with `old === object`. */
  onUpdate(handler: (object: T, old: T) => void): () => void {
    return this.on((e) => e.type === "update" && handler(e.object, e.old));
  }

  onDelete(handler: (object: T) => void): () => void {
    return this.on((e) => e.type === "delete" && handler(e.object));
  }

  /**
   * Lists, then watches until `signal` aborts. Resolves once the first list is in the cache (it is
   * retried with backoff until it succeeds); rejects only if `signal` aborts before that.
   */
  start(signal: AbortSignal): Promise<void> {
    if (this.#done) throw new Error(`informer for ${this.spec.kind} already started`);
    const synced = new Promise<void>((resolve, reject) => {
      this.#markSynced = resolve;
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    this.#done = this.#run(signal);
    return synced;
  }

  /** Resolves when the informer has stopped after its signal aborted. */
  async stopped(): Promise<void> {
    await this.#done;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const backoff = this.spec.backoff ?? DEFAULT_BACKOFF;
    const resyncMs = this.spec.resyncMs ?? DEFAULT_RESYNC_MS;
    let resync: NodeJS.Timeout | undefined;
    let failures = 0;
    while (!signal.aborted) {
      this.#progress = false;
      let listed = false;
      try {
        if (this.#resourceVersion === undefined) {
          await this.#list(signal);
          listed = true;
          if (!resync && resyncMs > 0) resync = setInterval(() => this.#resync(), resyncMs);
        }
        const opened = Date.now();
        const end = await this.#watch(signal);
        if (end === "aborted") break;
        // A watch the server closes at once, with nothing delivered, is not a timeout but a
        // refusal in disguise (a proxy, an overloaded server): resuming at once would spin.
        if (end === "timeout" && !this.#progress && Date.now() - opened < 1000) {
          throw new Error("the watch closed as soon as it opened");
        }
        failures = 0;
        this.#restarted(end, end === "stalled" ? "warn" : "debug", "watch ended; resuming");
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeError && err.code === 410) {
          // The resourceVersion was compacted away: changes since then can only be learnt by
          // listing again (the relist delivers them as a diff). No backoff, nothing is failing;
          // unless the version was fresh from a list, where relisting at once could loop.
          this.#resourceVersion = undefined;
          this.#restarted("gone", "info", "watch expired (410 Gone); relisting", err);
          if (!listed || this.#progress) continue;
        }
        if (this.#progress) failures = 0;
        const wait = backoffDelay(failures++, backoff);
        this.#restarted("error", "warn", `list or watch failed; retrying in ${Math.round(wait)} ms`, err);
        await delay(wait, undefined, { signal }).catch(() => {});
      }
    }
    clearInterval(resync);
  }

  #restarted(reason: RestartReason, level: "debug" | "info" | "warn", message: string, err?: unknown): void {
    this.#restarts?.inc({ kind: this.spec.kind, reason });
    this.#log[level]({ reason, resourceVersion: this.#resourceVersion, ...(err ? { err } : {}) }, message);
  }

  /** Replaces the cache with a fresh list and delivers the difference. */
  async #list(signal: AbortSignal): Promise<void> {
    const { apiVersion, kind, namespace, labelSelector, fieldSelector } = this.spec;
    const { items, resourceVersion } = await untilAborted(
      this.#kube.listWithVersion<T>(
        apiVersion,
        kind,
        namespace,
        {
          ...(labelSelector ? { labelSelector } : {}),
          ...(fieldSelector ? { fieldSelector } : {}),
          limit: LIST_PAGE_SIZE,
        },
        this.spec.transform,
      ),
      signal,
    );
    this.#lists?.inc({ kind });
    const listed = new Set<string>();
    for (const object of items) {
      listed.add(objectKey(object));
      const old = this.#cache.put(object);
      if (!old) this.#emit({ type: "add", object });
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) {
        this.#emit({ type: "update", object, old, resync: false });
      }
    }
    for (const object of this.#cache.list()) {
      if (listed.has(objectKey(object))) continue;
      this.#cache.remove(object);
      this.#emit({ type: "delete", object });
    }
    this.#resourceVersion = resourceVersion;
    this.#log.info({ objects: items.length, resourceVersion }, this.#synced ? "relisted" : "listed");
    if (!this.#synced) {
      this.#synced = true;
      this.#markSynced();
    }
  }

  async #watch(signal: AbortSignal): Promise<"timeout" | "stalled" | "aborted"> {
    const { apiVersion, kind, namespace, labelSelector, fieldSelector } = this.spec;
    const [min, max] = this.spec.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
    const timeoutSeconds = Math.round(min + Math.random() * (max - min));
    const opening = this.#kube.watch<T>(
      apiVersion,
      kind,
      {
        ...(namespace ? { namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(this.#resourceVersion ? { resourceVersion: this.#resourceVersion } : {}),
        timeoutSeconds,
      },
      (event) => this.#onWatchEvent(event),
    );
    const handle = await untilAborted(opening, signal).catch((err: unknown) => {
      // Stopped while opening: close the watch if it opens after all.
      opening.then((h) => h.abort()).catch(() => {});
      throw err;
    });
    const abort = () => handle.abort();
    signal.addEventListener("abort", abort, { once: true });
    if (signal.aborted) handle.abort();
    // The server ends every watch after timeoutSeconds. One still open well past that lost its
    // connection without a reset reaching us (a dead peer, a NAT dropping state) and would
    // otherwise wait for TCP keepalive, which takes minutes.
    let stalled = false;
    const watchdog = setTimeout(
      () => {
        stalled = true;
        handle.abort();
      },
      (timeoutSeconds * 1.2 + 5) * 1000,
    );
    try {
      await handle.done;
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", abort);
    }
    return signal.aborted ? "aborted" : stalled ? "stalled" : "timeout";
  }

  #onWatchEvent(event: WatchEvent<T>): void {
    this.#progress = true;
    const transform = this.spec.transform;
    const object = transform && event.type !== "BOOKMARK" ? transform(event.object) : event.object;
    switch (event.type) {
      case "BOOKMARK":
        this.#events?.inc({ kind: this.spec.kind, type: "bookmark" });
        break;
      case "ADDED":
      case "MODIFIED": {
        const old = this.#cache.put(object);
        this.#emit(old ? { type: "update", object, old, resync: false } : { type: "add", object });
        break;
      }
      case "DELETED":
        this.#cache.remove(object);
        this.#emit({ type: "delete", object });
        break;
    }
    // Bookmarks carry only a resourceVersion: the point to resume from without replaying events.
    const resourceVersion = object.metadata?.resourceVersion;
    if (resourceVersion) this.#resourceVersion = resourceVersion;
  }

  #resync(): void {
    for (const object of this.#cache.list())
      this.#emit({ type: "update", object, old: object, resync: true });
  }

  #emit(event: InformerEvent<T>): void {
    const type = event.type === "update" && event.resync ? "resync" : event.type;
    this.#events?.inc({ kind: this.spec.kind, type });
    for (const handler of this.#handlers) {
      try {
        handler(event);
      } catch (err) {
        // A broken handler must not stop the cache from following the server.
        this.#log.error(
          { err, event: event.type, object: objectKey(event.object) },
          "informer handler threw",
        );
      }
    }
  }
}

/**
 * `promise`, or a rejection as soon as `signal` aborts: stopping must not wait for a request stuck
 * on a dead connection (it ends on its own idle timeout; its result is then ignored).
 */
function untilAborted<R>(promise: Promise<R>, signal: AbortSignal): Promise<R> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<R>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
