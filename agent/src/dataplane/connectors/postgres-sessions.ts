/**
 * Idle PostgreSQL sessions an agent keeps for a moment between reads, shared by its copies.
 *
 * A new connection costs PostgreSQL a backend, an authentication and cold catalog caches (about
 * 5 ms of its CPU, and the agent 2.5), which is most of what a tiny copy costs it. A read that
 * ended cleanly (a COPY to its ReadyForQuery, a cursor to its COMMIT) leaves its session as
 * `connectPostgres` set it up, so the next read of the same server, database and credentials
 * takes it instead of connecting, in this copy or in the next job's. Sessions are keyed by a hash
 * of the whole client configuration: changed credentials never meet an old session. A session
 * unused for IDLE_MS is ended, and so is one the server closes.
 */
import { createHash } from "node:crypto";
import type pg from "pg";

/** How long a session no read is using stays open. */
export const IDLE_MS = 2000;
/** At most this many idle sessions per key (a copy's parallelism, at most, comes back at once). */
const MAX_IDLE_PER_KEY = 8;

interface Idle {
  client: pg.Client;
  timer: NodeJS.Timeout;
  onEnd: () => void;
}

export class IdleSessions {
  readonly #idle = new Map<string, Idle[]>();

  /** The key of a client configuration (a hash: the map holds no password). */
  static key(config: pg.ClientConfig): string {
    return createHash("sha256").update(JSON.stringify(config)).digest("base64url");
  }

  /** The most recently used idle session for `key`, if any; it is the caller's until `put`. */
  take(key: string): pg.Client | undefined {
    const list = this.#idle.get(key);
    const entry = list?.pop();
    if (!entry) return undefined;
    if (list?.length === 0) this.#idle.delete(key);
    this.#forget(entry);
    return entry.client;
  }

  /** Keeps an idle session (no transaction, no query) for the next read with the same key. */
  put(key: string, client: pg.Client): void {
    const list = this.#idle.get(key) ?? [];
    if (list.length >= MAX_IDLE_PER_KEY) {
      void client.end().catch(() => {});
      return;
    }
    const entry: Idle = {
      client,
      timer: setTimeout(() => this.#drop(key, entry, true), IDLE_MS),
      onEnd: () => this.#drop(key, entry, false),
    };
    // An idle session must not keep the process alive, nor outlive the server's end of it.
    entry.timer.unref();
    client.once("end", entry.onEnd);
    list.push(entry);
    this.#idle.set(key, list);
  }

  /** How many sessions are idle now. */
  get size(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Ends every idle session. */
  async close(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(
      all.map((entry) => {
        this.#forget(entry);
        return entry.client.end().catch(() => {});
      }),
    );
  }

  #drop(key: string, entry: Idle, end: boolean): void {
    const list = this.#idle.get(key);
    const i = list?.indexOf(entry) ?? -1;
    if (i < 0) return;
    list?.splice(i, 1);
    if (list?.length === 0) this.#idle.delete(key);
    this.#forget(entry);
    if (end) void entry.client.end().catch(() => {});
  }

  #forget(entry: Idle): void {
    clearTimeout(entry.timer);
    entry.client.removeListener("end", entry.onEnd);
  }
}

/** The agent's idle sessions: one set, shared by every copy the process runs. */
export const idlePostgresSessions = new IdleSessions();
