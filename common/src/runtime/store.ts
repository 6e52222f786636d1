/**
 * An informer's cache: the objects of one kind as last seen by its list and watch. Reconcilers read
 * from it instead of the API server; it is written only by its informer.
 *
 * Objects are shared, not copied: treat what `get` and `list` return as read-only (copy before
 * changing, e.g. `structuredClone`), or the cache silently disagrees with the server.
 */
import type { KubeObject } from "../kube.ts";
import { objectKey } from "./keys.ts";

/** What readers of a cache see. */
export interface Store<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  readonly size: number;
}

/** The cache itself, written by its informer only. */
export class ObjectCache<T extends KubeObject> implements Store<T> {
  readonly #objects = new Map<string, T>();

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#objects.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Every object, or those of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.#objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  get size(): number {
    return this.#objects.size;
  }

  /** Stores `object`; returns what it replaces. */
  put(object: T): T | undefined {
    const key = objectKey(object);
    const old = this.#objects.get(key);
    this.#objects.set(key, object);
    return old;
  }

  /** Removes the object `object` names. */
  remove(object: KubeObject): void {
    this.#objects.delete(objectKey(object));
  }
}
