/**
 * Azure Blob Storage (`@azure/storage-blob`), as a sink and as a source.
 *
 * Sink: a part is one block blob. Its bytes are staged as blocks (4 MiB by default, two uploading
 * at once, so a part holds at most three blocks in memory) and made visible by a single
 * commitBlockList — atomic: readers see the whole part or nothing — with If-None-Match: *, so a
 * part is never overwritten. Rows, checksums and the job travel as the blob's metadata, committed
 * in the same request. Small files (plan, manifest) are created with If-None-Match: * and replaced
 * with If-Match on the ETag read: a zombie attempt cannot clobber what a newer one wrote.
 *
 * Source: the blobs matching source.table or source.query, read as a glob within the container
 * (such as exports/2024-*.csv.gz), one partition per blob.
 *
 * Credentials: a connection string, or accountUrl with an account key or a SAS token.
 */

import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  newPipeline,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import {
  classifyNetworkError,
  DataPlaneError,
  type ErrorContext,
  permanent,
  redact,
  transient,
  unknownError,
} from "../errors.ts";
import { fileRows, fileSchema, globToRegExp } from "../formats/read.ts";
import { partitionId } from "../partitioning.ts";
import type {
  Connector,
  PartitionData,
  PartitionPlan,
  PartitionSpec,
  PartWriter,
  PlanContext,
  ReadContext,
  ReadRequest,
  Sink,
  SinkEntry,
  SinkOptions,
  Source,
  StoreConfig,
} from "../types.ts";
import { blobNetworkFor } from "./blob-network.ts";
import { BlockPool } from "./block-pool.ts";

export const DEFAULT_BLOCK_SIZE = 4 << 20;
/** Block buffers one copy attempt's parts share (block-pool.ts): 64 MiB at the default block size. */
export const DEFAULT_BLOCK_BUDGET = 16;

/** The account name in an account URL: the host's first label, or the first path segment (Azurite). */
export function accountNameOf(accountUrl: string): string {
  const url = new URL(accountUrl);
  const segment = url.pathname.split("/").filter(Boolean)[0];
  if (/^[\d.]+$/.test(url.hostname) || url.hostname === "localhost" || url.port === "10000") {
    if (segment) return segment;
  }
  return url.hostname.split(".")[0]!;
}

export function blobContext(store: StoreConfig): ErrorContext {
  const c = store.connection;
  let where = c.accountUrl ?? "";
  if (!where && store.credentials?.connectionString) {
    const m = /BlobEndpoint=([^;]+)/i.exec(store.credentials.connectionString);
    const a = /AccountName=([^;]+)/i.exec(store.credentials.connectionString);
    where = m?.[1] ?? (a ? `account ${a[1]}` : "account");
  }
  return { what: `Azure Blob ${where.replace(/\?.*$/, "")}/${c.container}`, credentials: store.credentials };
}

/** The blob endpoint a store talks to (for the proxy decision): account URL or connection string. */
export function blobEndpointOf(store: StoreConfig): string | undefined {
  const cs = store.credentials?.connectionString;
  if (!cs) return store.connection.accountUrl;
  const field = (name: string) => new RegExp(`(?:^|;)\\s*${name}=([^;]+)`, "i").exec(cs)?.[1]?.trim();
  const endpoint = field("BlobEndpoint");
  if (endpoint) return endpoint;
  const account = field("AccountName");
  if (!account) return undefined;
  return `${field("DefaultEndpointsProtocol") ?? "https"}://${account}.blob.${field("EndpointSuffix") ?? "core.windows.net"}`;
}

/**
 * Network options every Blob client gets, by the endpoint it talks to: the agent's proxy
 * (agent/src/net/blob-network.ts), set once at start with setBlobNetwork. Without it the SDK's
 * defaults apply (which read HTTPS_PROXY themselves, whatever the gateway's proxy mode).
 */
export { setBlobNetwork } from "./blob-network.ts";

export function blobServiceClient(
  store: StoreConfig,
  options: StoragePipelineOptions = {},
): BlobServiceClient {
  const pipeline = { ...blobNetworkFor(blobEndpointOf(store)), ...options };
  const creds = store.credentials ?? {};
  const url = store.connection.accountUrl;
  if (creds.connectionString) return BlobServiceClient.fromConnectionString(creds.connectionString, pipeline);
  if (!url) {
    throw permanent(
      "InvalidConnection",
      "an AzureBlob store needs connection.accountUrl or a connectionString credential",
    );
  }
  if (creds.accountKey) {
    const key = new StorageSharedKeyCredential(accountNameOf(url), creds.accountKey);
    return new BlobServiceClient(url, newPipeline(key, pipeline));
  }
  if (creds.sasToken) {
    const sas = creds.sasToken.replace(/^\?/, "");
    return new BlobServiceClient(
      `${url}${url.includes("?") ? "&" : "?"}${sas}`,
      newPipeline(new AnonymousCredential(), pipeline),
    );
  }
  return new BlobServiceClient(url, newPipeline(new AnonymousCredential(), pipeline));
}

export function classifyBlobError(err: unknown, context: ErrorContext): DataPlaneError {
  if (err instanceof DataPlaneError) return err;
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string }; message?: string };
  const code = e?.details?.errorCode ?? e?.code;
  const status = e?.statusCode;
  const where = context.what;
  if (status === 403 || code === "AuthenticationFailed") {
    // Azure says AuthenticationFailed for a wrong key or SAS; Azurite says AuthorizationFailure,
    // with the same "failed to authenticate" text.
    const failedAuthentication = /failed to authenticate/i.test(String(e?.message ?? ""));
    if (code === "AuthenticationFailed" || code === "InvalidAuthenticationInfo" || failedAuthentication) {
      return permanent(
        "AuthenticationFailed",
        `${where}: authentication failed; check the account key, SAS token or connection string`,
        err,
      );
    }
    return permanent(
      "PermissionDenied",
      `${where}: permission denied (${code ?? status}); the credentials need read, write, list and delete on the container`,
      err,
    );
  }
  if (code === "ContainerNotFound")
    return permanent(
      "ContainerNotFound",
      `${where}: the container does not exist; create it or fix connection.container`,
      err,
    );
  if (status === 404 && code === "ResourceNotFound")
    return permanent("ContainerNotFound", `${where}: not found (${code})`, err);
  if (code === "InvalidResourceName" || code === "OutOfRangeInput")
    return permanent("InvalidConnection", `${where}: invalid name (${code})`, err);
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) {
    return transient(
      "StorageUnavailable",
      `${where}: the service answered ${status} (${code ?? "no code"}); retrying`,
      err,
    );
  }
  const net = classifyNetworkError(err, context);
  if (net) return net;
  const raw = redact(String(e?.message ?? err), context.credentials);
  for (const [pattern, c] of [
    [/ENOTFOUND/, "ENOTFOUND"],
    [/EAI_AGAIN/, "EAI_AGAIN"],
    [/ECONNREFUSED/, "ECONNREFUSED"],
    [/ECONNRESET|socket hang up/, "ECONNRESET"],
    [/ETIMEDOUT/, "ETIMEDOUT"],
  ] as const) {
    if (pattern.test(raw)) return classifyNetworkError({ code: c, message: raw }, context)!;
  }
  return unknownError(err, context);
}

function isStatus(err: unknown, ...statuses: number[]): boolean {
  return statuses.includes((err as { statusCode?: number })?.statusCode ?? -1);
}

async function streamToBuffer(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function blockId(seq: number): string {
  return Buffer.from(`b${String(seq).padStart(7, "0")}`).toString("base64");
}

export class AzureBlobSink implements Sink {
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly context: ErrorContext;
  private readonly blockConcurrency: number;
  /** Exposed for tests: how many buffers the parts made between them. */
  readonly blocks: BlockPool;

  constructor(store: StoreConfig, folder: string, options: SinkOptions = {}) {
    this.context = blobContext(store);
    this.container = blobServiceClient(store).getContainerClient(store.connection.container!);
    this.prefix = `${folder.replace(/\/+$/, "")}/`;
    this.blockConcurrency = options.blockConcurrency ?? 2;
    this.blocks = new BlockPool(
      options.blockSize ?? DEFAULT_BLOCK_SIZE,
      options.blockBudget ?? DEFAULT_BLOCK_BUDGET,
    );
  }

  private blob(name: string) {
    return this.container.getBlockBlobClient(this.prefix + name);
  }

  uri(name: string): string {
    return this.blob(name).url.replace(/\?.*$/, "");
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyBlobError(err, this.context);
    }
  }

  list(): Promise<SinkEntry[]> {
    return this.guard(async () => {
      const out: SinkEntry[] = [];
      for await (const b of this.container.listBlobsFlat({ prefix: this.prefix })) {
        out.push({
          name: b.name.slice(this.prefix.length),
          size: b.properties.contentLength ?? 0,
          ...(b.properties.etag ? { etag: b.properties.etag } : {}),
        });
      }
      return out;
    });
  }

  read(name: string): Promise<{ data: Buffer; etag: string } | undefined> {
    return this.guard(async () => {
      try {
        const r = await this.blob(name).download(0);
        return { data: await streamToBuffer(r.readableStreamBody), etag: r.etag ?? "" };
      } catch (err) {
        if (isStatus(err, 404)) return undefined;
        throw err;
      }
    });
  }

  create(name: string, data: Buffer): Promise<boolean> {
    return this.guard(async () => {
      try {
        await this.blob(name).upload(data, data.byteLength, {
          conditions: { ifNoneMatch: "*" },
          blobHTTPHeaders: { blobContentType: "application/json" },
        });
        return true;
      } catch (err) {
        if (isStatus(err, 409, 412)) return false;
        throw err;
      }
    });
  }

  replace(name: string, data: Buffer, etag: string): Promise<boolean> {
    return this.guard(async () => {
      try {
        await this.blob(name).upload(data, data.byteLength, {
          conditions: { ifMatch: etag },
          blobHTTPHeaders: { blobContentType: "application/json" },
        });
        return true;
      } catch (err) {
        if (isStatus(err, 409, 412, 404)) return false;
        throw err;
      }
    });
  }

  async openPart(name: string, contentType: string): Promise<PartWriter> {
    const blob = this.blob(name);
    const ids: string[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    // Blocks come from the sink's pool (block-pool.ts) when there are bytes for one, and go back
    // once staged, failed or dropped: the job's parts share a bounded number of them, and a long
    // copy allocates no new ones (fresh multi-MiB buffers, freed only when a GC gets round to them,
    // made the agent's RSS grow with the table).
    const pool = this.blocks;
    let buffer: Buffer | undefined;
    let filled = 0;
    let closed = false;
    const context = this.context;
    const stage = (data: Buffer, whole: Buffer) => {
      const id = blockId(ids.length);
      ids.push(id);
      const p: Promise<void> = blob
        .stageBlock(id, data, data.byteLength)
        .then(
          () => {},
          (err: unknown) => {
            failure ??= err;
          },
        )
        .finally(() => {
          pool.give(whole);
          inflight.delete(p);
        });
      inflight.add(p);
    };
    const check = () => {
      if (failure) throw classifyBlobError(failure, context);
    };
    /** Gives back the buffer being filled, unstaged (a part that ends without its bytes). */
    const drop = () => {
      closed = true;
      if (buffer) pool.give(buffer);
      buffer = undefined;
      filled = 0;
    };
    return {
      write: async (chunk) => {
        check();
        let offset = 0;
        while (offset < chunk.byteLength) {
          if (!buffer) {
            const taken = await pool.take();
            // Aborted while waiting for it: it goes straight back.
            if (closed) return pool.give(taken);
            buffer = taken;
          }
          const n = Math.min(chunk.byteLength - offset, buffer.byteLength - filled);
          buffer.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          if (filled === buffer.byteLength) {
            stage(buffer, buffer);
            buffer = undefined;
            filled = 0;
            while (inflight.size >= this.blockConcurrency) await Promise.race(inflight);
            check();
          }
        }
      },
      commit: async (metadata) => {
        if (buffer && filled > 0) {
          stage(buffer.subarray(0, filled), buffer);
          buffer = undefined;
        }
        drop();
        await Promise.all(inflight);
        check();
        await this.guard(async () => {
          try {
            await blob.commitBlockList(ids, {
              conditions: { ifNoneMatch: "*" },
              metadata,
              blobHTTPHeaders: { blobContentType: contentType },
            });
          } catch (err) {
            if (isStatus(err, 409, 412)) {
              throw permanent(
                "PartExists",
                `${context.what}: part ${name} already exists; it is never overwritten`,
              );
            }
            throw err;
          }
        });
      },
      abort: async () => {
        drop();
        await Promise.allSettled(inflight);
      },
    };
  }

  partMetadata(name: string): Promise<Record<string, string> | undefined> {
    return this.guard(async () => {
      try {
        const p = await this.blob(name).getProperties();
        return p.metadata ?? {};
      } catch (err) {
        if (isStatus(err, 404)) return undefined;
        throw err;
      }
    });
  }

  delete(name: string): Promise<void> {
    return this.guard(async () => void (await this.blob(name).deleteIfExists()));
  }

  async close(): Promise<void> {}
}

/** The literal prefix of a glob, to narrow the listing. */
function globPrefix(pattern: string): string {
  const i = pattern.search(/[*?]/);
  return i === -1 ? pattern : pattern.slice(0, i);
}

export class AzureBlobSource implements Source {
  private readonly container: ContainerClient;
  private readonly context: ErrorContext;
  constructor(store: StoreConfig) {
    this.context = blobContext(store);
    this.container = blobServiceClient(store).getContainerClient(store.connection.container!);
  }

  async plan(request: ReadRequest, _context: PlanContext): Promise<PartitionPlan> {
    const pattern = request.table ?? request.query;
    if (!pattern)
      throw permanent("InvalidSource", "a blob source needs a blob name or glob in table or query");
    const re = globToRegExp(pattern);
    try {
      const blobs: { name: string; size: number }[] = [];
      for await (const b of this.container.listBlobsFlat({ prefix: globPrefix(pattern) })) {
        if (re.test(b.name)) blobs.push({ name: b.name, size: b.properties.contentLength ?? 0 });
      }
      blobs.sort((a, b) => (a.name < b.name ? -1 : 1));
      if (blobs.length === 0) throw permanent("NoFiles", `${this.context.what}: no blob matches ${pattern}`);
      const first = blobs[0]!;
      const r = await this.container.getBlobClient(first.name).download(0);
      const schema = await fileSchema(first.name, r.readableStreamBody as AsyncIterable<Uint8Array>);
      (r.readableStreamBody as NodeJS.ReadableStream & { destroy?: () => void })?.destroy?.();
      return {
        version: 1,
        schema,
        partitions: blobs.map((b, index) => ({
          id: partitionId(index),
          index,
          file: b.name,
          estimatedBytes: b.size,
        })),
      };
    } catch (err) {
      throw classifyBlobError(err, this.context);
    }
  }

  async read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData> {
    const name = partition.file!;
    const container = this.container;
    const ctx = this.context;
    async function* rows() {
      try {
        const r = await container.getBlobClient(name).download(0, undefined, { abortSignal: context.signal });
        yield* fileRows(
          name,
          r.readableStreamBody as AsyncIterable<Uint8Array>,
          plan.schema,
          context.batchRows,
        );
      } catch (err) {
        throw classifyBlobError(err, ctx);
      }
    }
    return { kind: "rows", batches: rows() };
  }

  async close(): Promise<void> {}
}

export const azureBlobConnector: Connector = {
  type: "AzureBlob",
  openSource: (store) => new AzureBlobSource(store),
  openSink: (store, folder, options) => new AzureBlobSink(store, folder, options),
  async testConnection(store, options) {
    const context = blobContext(store);
    try {
      const client = blobServiceClient(store, {
        retryOptions: { maxTries: 1, tryTimeoutInMs: options.timeoutMs ?? 15_000 },
      });
      const container = client.getContainerClient(store.connection.container!);
      const page = await container.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
      void page;
      return { detail: "listed the container" };
    } catch (err) {
      throw classifyBlobError(err, context);
    }
  },
};
