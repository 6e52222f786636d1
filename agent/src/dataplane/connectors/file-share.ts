/**
 * File share: a directory every node sees (an NFS or SMB mount), as a sink and as a source.
 *
 * Sink: a part is written to a hidden temporary file next to its final name, flushed to disk, then
 * hard-linked to the final name — link() fails when the name exists, so a part is created whole or
 * not at all and never overwrites another (rename would silently replace) — and the temporary name
 * removed. The metadata a blob would carry (rows, checksums) goes to a small JSON file under
 * _ferry/parts/, written before the part appears. Small files (plan, manifest) use the same
 * link-or-fail to create; replacing one compares a version tag (mtime, size, inode) first, which
 * narrows but cannot close the race a blob ETag closes — the fence before every commit is the
 * guard that matters.
 *
 * Source: the files matching source.table or source.query, read as a glob relative to the share
 * (such as exports/2024-*.csv.gz), one partition per file.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type DataPlaneError,
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
  Source,
  StoreConfig,
} from "../types.ts";

export function classifyFsError(err: unknown, context: ErrorContext): DataPlaneError {
  const code = (err as { code?: string })?.code;
  const raw = redact(String((err as Error)?.message ?? err), context.credentials);
  switch (code) {
    case "ENOENT":
      return permanent(
        "PathNotFound",
        `${context.what}: ${raw}; check that the share is mounted on the node`,
        err,
      );
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return permanent(
        "PermissionDenied",
        `${context.what}: ${raw}; the agent's user needs read and write access`,
        err,
      );
    case "ENOTDIR":
      return permanent("NotADirectory", `${context.what}: ${raw}`, err);
    case "ENOSPC":
    case "EDQUOT":
      return permanent("NoSpace", `${context.what}: the share is full (${code})`, err);
    case "EIO":
    case "ESTALE":
    case "ETIMEDOUT":
    case "EAGAIN":
    case "EBUSY":
      return transient("StorageUnavailable", `${context.what}: ${raw}`, err);
  }
  return unknownError(err, context);
}

const TMP_MARK = ".ferry-tmp-";

function etagOf(s: { mtimeMs: number; size: number; ino: number }): string {
  return `${Math.round(s.mtimeMs * 1000)}-${s.size}-${s.ino}`;
}

async function syncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, "r");
    await h.sync();
  } catch {
    // Some network file systems refuse fsync on directories; the data itself was synced.
  } finally {
    await h?.close().catch(() => {});
  }
}

async function writeNew(path: string, data: Buffer): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${join(dirname(path), `.${path.split(sep).at(-1)}`)}${TMP_MARK}${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, data, { flush: true });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
    await syncDir(dirname(path));
  }
}

export class FileShareSink implements Sink {
  readonly folder: string;
  private readonly context: ErrorContext;

  constructor(root: string, path: string) {
    const base = resolve(root);
    this.folder = resolve(base, path);
    if (this.folder !== base && !this.folder.startsWith(base + sep)) {
      throw permanent("InvalidPath", `sink path ${path} leaves the share`);
    }
    this.context = { what: `file share ${base}` };
  }

  private full(name: string): string {
    return join(this.folder, ...name.split("/"));
  }

  private metaPath(name: string): string {
    return this.full(`_ferry/parts/${name}.json`);
  }

  uri(name: string): string {
    return pathToFileURL(this.full(name)).href;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyFsError(err, this.context);
    }
  }

  async list(): Promise<SinkEntry[]> {
    return this.guard(async () => {
      const out: SinkEntry[] = [];
      const walk = async (dir: string) => {
        let entries: import("node:fs").Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (err) {
          if ((err as { code?: string }).code === "ENOENT") return;
          throw err;
        }
        for (const e of entries) {
          const p = join(dir, e.name);
          if (e.isDirectory()) await walk(p);
          else {
            const s = await stat(p).catch(() => undefined);
            if (s)
              out.push({
                name: relative(this.folder, p).split(sep).join("/"),
                size: s.size,
                etag: etagOf(s),
              });
          }
        }
      };
      await walk(this.folder);
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    });
  }

  async read(name: string): Promise<{ data: Buffer; etag: string } | undefined> {
    return this.guard(async () => {
      try {
        const h = await open(this.full(name), "r");
        try {
          const s = await h.stat();
          return { data: await h.readFile(), etag: etagOf(s) };
        } finally {
          await h.close();
        }
      } catch (err) {
        if ((err as { code?: string }).code === "ENOENT") return undefined;
        throw err;
      }
    });
  }

  async create(name: string, data: Buffer): Promise<boolean> {
    return this.guard(() => writeNew(this.full(name), data));
  }

  async replace(name: string, data: Buffer, etag: string): Promise<boolean> {
    return this.guard(async () => {
      const path = this.full(name);
      const s = await stat(path).catch(() => undefined);
      if (!s || etagOf(s) !== etag) return false;
      const tmp = `${join(dirname(path), `.${name.split("/").at(-1)}`)}${TMP_MARK}${randomBytes(4).toString("hex")}`;
      await writeFile(tmp, data, { flush: true });
      await rename(tmp, path);
      await syncDir(dirname(path));
      return true;
    });
  }

  async openPart(name: string): Promise<PartWriter> {
    const final = this.full(name);
    const tmp = `${join(dirname(final), `.${name.split("/").at(-1)}`)}${TMP_MARK}${randomBytes(4).toString("hex")}`;
    const handle = await this.guard(async () => {
      await mkdir(dirname(final), { recursive: true });
      return open(tmp, "wx");
    });
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await handle.close();
      }
    };
    return {
      write: (chunk) => this.guard(async () => void (await handle.write(chunk))),
      commit: (metadata) =>
        this.guard(async () => {
          await handle.sync();
          await close();
          const meta = this.metaPath(name);
          await mkdir(dirname(meta), { recursive: true });
          await writeFile(meta, JSON.stringify(metadata), { flush: true });
          try {
            await link(tmp, final);
          } catch (err) {
            if ((err as { code?: string }).code === "EEXIST") {
              throw permanent(
                "PartExists",
                `${this.context.what}: part ${name} already exists; it is never overwritten`,
              );
            }
            throw err;
          } finally {
            await unlink(tmp).catch(() => {});
          }
          await syncDir(dirname(final));
        }),
      abort: async () => {
        await close().catch(() => {});
        await unlink(tmp).catch(() => {});
      },
    };
  }

  async partMetadata(name: string): Promise<Record<string, string> | undefined> {
    return this.guard(async () => {
      const exists = await stat(this.full(name)).catch(() => undefined);
      if (!exists) return undefined;
      try {
        return JSON.parse(await readFile(this.metaPath(name), "utf8")) as Record<string, string>;
      } catch (err) {
        if ((err as { code?: string }).code === "ENOENT") return {};
        throw err;
      }
    });
  }

  async delete(name: string): Promise<void> {
    await this.guard(async () => {
      await unlink(this.full(name)).catch((err) => {
        if ((err as { code?: string }).code !== "ENOENT") throw err;
      });
      if (!name.startsWith("_ferry/")) await unlink(this.metaPath(name)).catch(() => {});
    });
  }

  async close(): Promise<void> {}
}

/** The files of a share matching a glob, sorted, as relative names. */
async function matchFiles(root: string, pattern: string): Promise<{ name: string; size: number }[]> {
  const re = globToRegExp(pattern);
  const out: { name: string; size: number }[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const rel = relative(root, p).split(sep).join("/");
      if (e.isDirectory()) {
        if (!e.name.startsWith(".")) await walk(p);
      } else if (re.test(rel) && !e.name.startsWith(".")) {
        out.push({ name: rel, size: (await stat(p)).size });
      }
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

export class FileShareSource implements Source {
  private readonly root: string;
  private readonly context: ErrorContext;
  constructor(store: StoreConfig) {
    this.root = resolve(store.connection.path ?? "/");
    this.context = { what: `file share ${this.root}` };
  }

  async plan(request: ReadRequest, _context: PlanContext): Promise<PartitionPlan> {
    const pattern = request.table ?? request.query;
    if (!pattern)
      throw permanent("InvalidSource", "a file share source needs a file name or glob in table or query");
    try {
      const files = await matchFiles(this.root, pattern);
      if (files.length === 0) throw permanent("NoFiles", `${this.context.what}: no file matches ${pattern}`);
      const first = files[0]!;
      const schema = await fileSchema(first.name, createReadStream(join(this.root, first.name)));
      return {
        version: 1,
        schema,
        partitions: files.map((f, index) => ({
          id: partitionId(index),
          index,
          file: f.name,
          estimatedBytes: f.size,
        })),
      };
    } catch (err) {
      if ((err as DataPlaneError).reason) throw err;
      throw classifyFsError(err, this.context);
    }
  }

  async read(plan: PartitionPlan, partition: PartitionSpec, context: ReadContext): Promise<PartitionData> {
    const file = partition.file!;
    const stream = createReadStream(join(this.root, file), { signal: context.signal });
    const ctx = this.context;
    async function* guarded() {
      try {
        yield* fileRows(file, stream, plan.schema, context.batchRows);
      } catch (err) {
        if ((err as DataPlaneError).reason) throw err;
        throw classifyFsError(err, ctx);
      }
    }
    return { kind: "rows", batches: guarded() };
  }

  async close(): Promise<void> {}
}

export const fileShareConnector: Connector = {
  type: "FileShare",
  openSource: (store) => new FileShareSource(store),
  openSink: (store, folder) => new FileShareSink(store.connection.path ?? "/", folder),
  async testConnection(store) {
    const root = store.connection.path ?? "";
    const context = { what: `file share ${root}` };
    try {
      const s = await stat(root);
      if (!s.isDirectory()) throw permanent("NotADirectory", `${context.what}: the path is not a directory`);
      // Writable? A probe file proves it where access() can lie (NFS root squash, read-only mounts).
      const probe = join(root, `.ferry-probe-${randomBytes(4).toString("hex")}`);
      await writeFile(probe, "");
      await unlink(probe);
      return { detail: "directory is readable and writable" };
    } catch (err) {
      if ((err as DataPlaneError).reason) throw err;
      throw classifyFsError(err, context);
    }
  },
};
