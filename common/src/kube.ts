/**
 * The Kubernetes API client: a small typed interface that everything else talks to, so the
 * transport can change (or a call can be done by hand) in one place. How it reaches the server and
 * authenticates is kube-access.ts's.
 */
import http from "node:http";
import https from "node:https";
import type { ObjectMeta } from "@ferry/crds";
import { type ClusterAccess, kubeconfigAccess, tokenAccess } from "./kube-access.ts";

// Object metadata is part of the API, so it is declared once, in @ferry/crds.
export type { ObjectMeta, OwnerReference } from "@ferry/crds";
export { type ClusterAccess, inClusterAccess, kubeconfigAccess, tokenAccess } from "./kube-access.ts";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** What identifies an object: enough to read or delete it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface StatusCause {
  field?: string;
  message?: string;
  reason?: string;
}

/** An API server refusal, with the parts a caller decides on (code, reason, field causes). */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: StatusCause[];
  constructor(code: number, reason: string, message: string, causes: StatusCause[]) {
    super(message);
    this.name = "KubeError";
    this.code = code;
    this.reason = reason;
    this.causes = causes;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeError && err.code === 404;
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeError && err.code === 409 && err.reason === "AlreadyExists";
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeError && err.code === 409 && err.reason === "Conflict";
}

interface StatusBody {
  kind?: string;
  reason?: string;
  message?: string;
  details?: { causes?: StatusCause[] };
}

/** Answers of 429 (Too Many Requests) a request waits out, each for its Retry-After, before failing. */
const TOO_MANY_REQUESTS_ATTEMPTS = 6;

function errorFrom(status: number, text: string): KubeError {
  let parsed: StatusBody = {};
  try {
    parsed = JSON.parse(text) as StatusBody;
  } catch {
    parsed = { message: text };
  }
  return new KubeError(
    status,
    parsed.reason ?? "Unknown",
    parsed.message ?? `HTTP ${status}`,
    parsed.details?.causes ?? [],
  );
}

function selectorQuery(options: ListOptions): URLSearchParams {
  const query = new URLSearchParams();
  if (options.labelSelector) query.set("labelSelector", options.labelSelector);
  if (options.fieldSelector) query.set("fieldSelector", options.fieldSelector);
  return query;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface PagedListOptions extends ListOptions {
  /**
   * Ask for pages of at most this many objects, following the server's continue tokens: one
   * consistent snapshot, without one response (and its parse) holding every object at once.
   */
  limit?: number;
}

export type Propagation = "Foreground" | "Background" | "Orphan";

export interface ListResult<T> {
  items: T[];
  /** Where a watch continues from to see every change after this list. */
  resourceVersion: string;
}

export interface WatchOptions extends ListOptions {
  namespace?: string;
  resourceVersion?: string;
  /** The server ends the watch after this long (it is restarted by the caller). */
  timeoutSeconds?: number;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

/** For BOOKMARK, `object` carries only metadata.resourceVersion. */
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface WatchHandle {
  /**
   * Settles when the stream ends: resolves on a clean end (server timeout) or abort; rejects with
   * a KubeError when the server refuses or ends the watch (code 410: the resourceVersion is too
   * old), or with the transport error.
   */
  done: Promise<void>;
  abort(): void;
}

export interface Kube {
  /** The API server URL the client talks to. */
  readonly server: string;
  /** The API server's CA (PEM) from the kubeconfig, when it names one. */
  readonly caPem: string | undefined;
  /**
   * Any other call, by path (a subresource create such as TokenRequest, a delete with options):
   * the same transport, credentials and errors as every method here.
   */
  request<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  create<T extends KubeObject>(object: T): Promise<T>;
  /**
   * Server-side apply as `fieldManager`; `force` takes ownership of conflicting fields. With
   * `subresource` "status" only the status is applied (each status writer owns its own fields). A
   * `metadata.resourceVersion` in `object` is a precondition: a stale one is a 409 conflict.
   */
  apply<T extends KubeObject>(
    object: T,
    fieldManager: string,
    force?: boolean,
    subresource?: "status",
  ): Promise<T>;
  /** JSON merge patch of the object, or of its status subresource. */
  mergePatch<T extends KubeObject>(ref: ObjectRef, patch: object, subresource?: "status"): Promise<T>;
  /** PUT: fails with a 409 conflict when `object.metadata.resourceVersion` is stale. */
  replace<T extends KubeObject>(object: T, subresource?: "status"): Promise<T>;
  delete(ref: ObjectRef, propagation?: Propagation): Promise<boolean>;
  list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options?: ListOptions,
  ): Promise<T[]>;
  /**
   * A list with the resourceVersion a watch continues from (what informers start with). `each`
   * maps every object as its page arrives, so a projection keeps a long list's memory to one page.
   */
  listWithVersion<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options?: PagedListOptions,
    each?: (object: T) => T,
  ): Promise<ListResult<T>>;
  /** A streaming watch; events arrive in order through `onEvent`. */
  watch<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<WatchHandle>;
}

const REQUEST_IDLE_TIMEOUT_MS = 30_000;

interface Resource {
  plural: string;
  namespaced: boolean;
}

interface DiscoveryList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/**
 * A plain JSON REST client. Generated client models convert timestamps to Date and drop fields
 * they do not know, which is wrong for an operator that applies exact fields and reads its own
 * CRDs.
 */
class RestKube implements Kube {
  readonly server: string;
  readonly caPem: string | undefined;
  readonly #access: ClusterAccess;
  readonly #agent: http.Agent | undefined;
  readonly #resources = new Map<string, Promise<Map<string, Resource>>>();

  constructor(access: ClusterAccess, options: ConnectOptions = {}) {
    this.server = access.server;
    this.caPem = access.caPem;
    this.#access = access;
    this.#agent = options.agent;
  }

  async #options(method: string): Promise<https.RequestOptions> {
    const options: https.RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.#access.apply(options);
    // The access puts its own agent in; the request still carries the CA and client certificate,
    // which the given agent applies to every connection it opens.
    if (this.#agent) options.agent = this.#agent;
    return options;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const url = new URL(this.server + path);
    const options = await this.#options(method);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      options.headers = {
        ...options.headers,
        "Content-Type": contentType,
        "Content-Length": Buffer.byteLength(payload),
      };
    }
    const send = url.protocol === "https:" ? https.request : http.request;
    for (let attempt = 1; ; attempt++) {
      const { status, text, retryAfter } = await new Promise<{
        status: number;
        text: string;
        retryAfter: string | undefined;
      }>((resolve, reject) => {
        const req = send(url, options, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString("utf8"),
              retryAfter: res.headers["retry-after"],
            }),
          );
          res.on("error", reject);
        });
        req.on("error", reject);
        // A connection that stalls (a dead peer sends no RST) would otherwise hold the caller, e.g.
        // a reconcile worker or a lease renewal, forever. Idle time, not total: big lists still work.
        req.setTimeout(REQUEST_IDLE_TIMEOUT_MS, () =>
          req.destroy(new Error(`${method} ${path}: no response for ${REQUEST_IDLE_TIMEOUT_MS} ms`)),
        );
        req.end(payload);
      });
      if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
      // 429: the server did not take the request (priority and fairness rejected it, or the
      // storage of a resource just added is still initializing) and says when to come back, so
      // any verb may be sent again, as client-go does. Jittered over up to twice that wait, so the
      // requests a burst had turned away do not all come back in the same instant.
      if (status === 429 && attempt < TOO_MANY_REQUESTS_ATTEMPTS) {
        const seconds = Number(retryAfter);
        const waitMs = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) * 1000 : 1000;
        await new Promise((r) => setTimeout(r, waitMs * (1 + Math.random())));
        continue;
      }
      throw errorFrom(status, text);
    }
  }

  #groupPath(apiVersion: string): string {
    return apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  }

  async #resource(apiVersion: string, kind: string): Promise<Resource> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let found = this.#resources.get(apiVersion);
      if (!found) {
        found = this.request<DiscoveryList>("GET", this.#groupPath(apiVersion)).then(
          (list) =>
            new Map(
              list.resources
                .filter((r) => !r.name.includes("/"))
                .map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }]),
            ),
        );
        this.#resources.set(apiVersion, found);
        // A failed or stale discovery is retried on the next call (CRDs may have just been added).
        found.catch(() => this.#resources.delete(apiVersion));
      }
      let failure: unknown;
      const resource = (
        await found.catch((err: unknown) => {
          failure = err;
          return undefined;
        })
      )?.get(kind);
      if (resource) return resource;
      this.#resources.delete(apiVersion);
      // A group the server does not serve is "no such resource"; a transport or proxy failure, or
      // a refusal (401, 403), must reach the caller as what it is.
      if (failure !== undefined && attempt === 1 && !isNotFound(failure)) throw failure;
    }
    throw new KubeError(404, "NotFound", `the server has no resource for ${kind} in ${apiVersion}`, []);
  }

  async #path(apiVersion: string, kind: string, namespace?: string, name?: string, sub?: string) {
    const r = await this.#resource(apiVersion, kind);
    let path = this.#groupPath(apiVersion);
    if (r.namespaced) {
      if (!namespace) throw new Error(`${kind} is namespaced: a namespace is required`);
      path += `/namespaces/${encodeURIComponent(namespace)}`;
    }
    path += `/${r.plural}`;
    if (name) path += `/${encodeURIComponent(name)}`;
    if (sub) path += `/${sub}`;
    return path;
  }

  async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.request<T>(
        "GET",
        await this.#path(ref.apiVersion, ref.kind, ref.namespace, ref.name),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create<T extends KubeObject>(object: T): Promise<T> {
    const path = await this.#path(object.apiVersion, object.kind, object.metadata.namespace);
    return this.request<T>("POST", path, object);
  }

  async apply<T extends KubeObject>(
    object: T,
    fieldManager: string,
    force = true,
    subresource?: "status",
  ): Promise<T> {
    const { apiVersion, kind, metadata } = object;
    const path = await this.#path(apiVersion, kind, metadata.namespace, metadata.name, subresource);
    const query = `?fieldManager=${encodeURIComponent(fieldManager)}${force ? "&force=true" : ""}`;
    return this.request<T>("PATCH", path + query, object, "application/apply-patch+yaml");
  }

  async mergePatch<T extends KubeObject>(ref: ObjectRef, patch: object, subresource?: "status"): Promise<T> {
    const path = await this.#path(ref.apiVersion, ref.kind, ref.namespace, ref.name, subresource);
    return this.request<T>("PATCH", path, patch, "application/merge-patch+json");
  }

  async replace<T extends KubeObject>(object: T, subresource?: "status"): Promise<T> {
    const { apiVersion, kind, metadata } = object;
    const path = await this.#path(apiVersion, kind, metadata.namespace, metadata.name, subresource);
    return this.request<T>("PUT", path, object);
  }

  async delete(ref: ObjectRef, propagation: Propagation = "Background"): Promise<boolean> {
    try {
      const path = await this.#path(ref.apiVersion, ref.kind, ref.namespace, ref.name);
      await this.request("DELETE", path, {
        kind: "DeleteOptions",
        apiVersion: "v1",
        propagationPolicy: propagation,
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async #collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const r = await this.#resource(apiVersion, kind);
    let path = this.#groupPath(apiVersion);
    if (r.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    return `${path}/${r.plural}`;
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options: ListOptions = {},
  ): Promise<T[]> {
    return (await this.listWithVersion<T>(apiVersion, kind, namespace, options)).items;
  }

  async listWithVersion<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    options: PagedListOptions = {},
    each: (object: T) => T = (object) => object,
  ): Promise<ListResult<T>> {
    const path = await this.#collectionPath(apiVersion, kind, namespace);
    const query = selectorQuery(options);
    if (options.limit) query.set("limit", String(options.limit));
    const items: T[] = [];
    for (;;) {
      const qs = query.toString();
      const list = await this.request<{
        items: T[];
        metadata: { resourceVersion: string; continue?: string };
      }>("GET", qs ? `${path}?${qs}` : path);
      // List items carry no apiVersion/kind; callers compare whole objects, so give them back.
      for (const item of list.items) items.push(each({ ...item, apiVersion, kind }));
      // Every page is of the first page's snapshot, and says so in its resourceVersion.
      if (!list.metadata.continue) return { items, resourceVersion: list.metadata.resourceVersion };
      query.set("continue", list.metadata.continue);
    }
  }

  async watch<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<WatchHandle> {
    const query = selectorQuery(options);
    query.set("watch", "true");
    query.set("allowWatchBookmarks", "true");
    if (options.resourceVersion) query.set("resourceVersion", options.resourceVersion);
    if (options.timeoutSeconds) query.set("timeoutSeconds", String(options.timeoutSeconds));
    const url = new URL(
      `${this.server}${await this.#collectionPath(apiVersion, kind, options.namespace)}?${query}`,
    );
    const requestOptions = await this.#options("GET");
    const controller = new AbortController();
    requestOptions.signal = controller.signal;
    const send = url.protocol === "https:" ? https.request : http.request;
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      const req = send(url, requestOptions, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => reject(errorFrom(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))));
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let newline = buffered.indexOf("\n");
          // Nothing after abort() or a failure reaches `onEvent`, even from the same chunk.
          while (newline >= 0 && !aborted) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line) {
              // One path for every failure: `done` rejects, whether the server refused the watch
              // outright, ended it with a Status (410 Gone: relist and watch again), sent a line
              // that is not JSON, or `onEvent` threw (thrown from a socket callback, it would
              // otherwise be an uncaught exception that ends the process).
              const fail = (err: unknown) => {
                reject(err);
                aborted = true;
                controller.abort();
              };
              let event: { type: WatchEventType | "ERROR"; object: T };
              try {
                event = JSON.parse(line) as typeof event;
              } catch (err) {
                return fail(err);
              }
              if (event.type === "ERROR") {
                const status = event.object as unknown as StatusBody & { code?: number };
                return fail(errorFrom(status.code ?? 500, JSON.stringify(status)));
              }
              if (event.type !== "BOOKMARK") event.object = { ...event.object, apiVersion, kind };
              try {
                onEvent(event as WatchEvent<T>);
              } catch (err) {
                return fail(err);
              }
            }
            newline = buffered.indexOf("\n");
          }
        });
        res.on("end", () => resolve());
        res.on("error", (err) => (aborted ? resolve() : reject(err)));
        res.on("aborted", () =>
          aborted ? resolve() : reject(new Error("watch stream aborted by the server")),
        );
      });
      req.on("error", (err) => (aborted ? resolve() : reject(err)));
      req.end();
    });
    return {
      done,
      abort: () => {
        aborted = true;
        controller.abort();
      },
    };
  }
}

export interface ConnectOptions {
  /**
   * The agent for every request and watch, such as the agent process's proxy agent (an
   * https.Agent for an https server). Without it, client-node's agent for the kubeconfig is used.
   */
  agent?: http.Agent;
}

/** A client for the cluster of a kubeconfig file (or the default one: $KUBECONFIG, ~/.kube/config, in-cluster). */
export function connect(kubeconfigPath?: string, options?: ConnectOptions): Kube {
  return new RestKube(kubeconfigAccess(kubeconfigPath), options);
}

/** A client through an access already loaded (e.g. to read its context's namespace too). */
export function connectWith(access: ClusterAccess, options?: ConnectOptions): Kube {
  return new RestKube(access, options);
}

/** A client from explicit coordinates: what an agent outside the cluster has (its registration key). */
export function connectWithToken(
  server: string,
  caPem: string,
  token: string,
  options?: ConnectOptions,
): Kube {
  return new RestKube(tokenAccess(server, caPem, token), options);
}
