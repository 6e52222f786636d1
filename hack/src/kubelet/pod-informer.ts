/**
 * The pods bound to this node (`spec.nodeName=<node>`), as a wrapped informer (design.md, point 5):
 * list, then watch from the list's resourceVersion; a clean end of the watch resumes it, 410 Gone
 * relists at once, any other error relists after a jittered exponential backoff. Every relist and
 * error is logged and counted. A periodic resync re-syncs every pod even when nothing changed.
 */
import { type Kube, KubeError, type WatchHandle } from "@ferry/common/kube";
import type { Pod } from "./types.ts";

export interface PodHandlers {
  upsert(pod: Pod): void;
  remove(pod: Pod): void;
  /** A full list: a pod the runtime knows that is not in it is gone. */
  replace(pods: Pod[]): void;
  resync(): void;
}

export interface InformerStats {
  lists: number;
  watches: number;
  errors: number;
  gone: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number) => ms * (0.8 + Math.random() * 0.4);

export class PodInformer {
  readonly stats: InformerStats = { lists: 0, watches: 0, errors: 0, gone: 0 };
  readonly #kube: Kube;
  readonly #fieldSelector: string;
  readonly #handlers: PodHandlers;
  readonly #log: (message: string) => void;
  readonly #resyncMs: number;
  #stopped = false;
  #watch: WatchHandle | undefined;
  #resync: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    kube: Kube,
    nodeName: string,
    handlers: PodHandlers,
    log: (message: string) => void,
    resyncMs: number,
  ) {
    this.#kube = kube;
    this.#fieldSelector = `spec.nodeName=${nodeName}`;
    this.#handlers = handlers;
    this.#log = log;
    this.#resyncMs = resyncMs;
  }

  /** Resolves once the first list has been handed over. */
  start(): Promise<void> {
    return new Promise((listed) => {
      this.#loop = this.#run(listed);
      this.#resync = setInterval(() => this.#handlers.resync(), this.#resyncMs);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resync);
    this.#watch?.abort();
    await this.#loop;
  }

  async #run(listed: () => void): Promise<void> {
    let backoffMs = 500;
    while (!this.#stopped) {
      try {
        const list = await this.#kube.listWithVersion<Pod>("v1", "Pod", undefined, {
          fieldSelector: this.#fieldSelector,
        });
        this.stats.lists++;
        if (this.#stopped) return;
        this.#handlers.replace(list.items);
        listed();
        backoffMs = 500;
        let resourceVersion = list.resourceVersion;
        while (!this.#stopped) {
          this.#watch = await this.#kube.watch<Pod>(
            "v1",
            "Pod",
            { fieldSelector: this.#fieldSelector, resourceVersion, timeoutSeconds: Math.round(jitter(300)) },
            (event) => {
              resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
              if (event.type === "BOOKMARK") return;
              if (event.type === "DELETED") this.#handlers.remove(event.object);
              else this.#handlers.upsert(event.object);
            },
          );
          this.stats.watches++;
          if (this.#stopped) this.#watch.abort();
          await this.#watch.done;
        }
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof KubeError && err.code === 410) {
          this.stats.gone++;
          this.#log("pod watch: 410 Gone, relisting");
          continue;
        }
        this.stats.errors++;
        this.#log(
          `pod watch failed (${this.stats.errors} so far), relisting in ${Math.round(backoffMs)} ms: ${(err as Error).message}`,
        );
        await sleep(jitter(backoffMs));
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  }
}
