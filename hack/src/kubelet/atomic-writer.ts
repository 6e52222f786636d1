/**
 * Kubelet's AtomicWriter: a volume's files live in a timestamped folder, `..data` links to the
 * current one and each visible name links through `..data`. An update writes a new folder and
 * swaps the `..data` link with one rename, so a process never reads half of an old Secret and half
 * of a new one, and a watcher of the folder sees a single change.
 */
import { randomBytes } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";

export interface FileContent {
  data: Buffer;
  mode: number;
}

/** Relative path (no leading slash, no `..`) → content. */
export type Payload = Map<string, FileContent>;

const DATA = "..data";

async function readTree(root: string, prefix = ""): Promise<Payload> {
  const out: Payload = new Map();
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      for (const [k, v] of await readTree(root, rel)) out.set(k, v);
    } else {
      const path = join(root, rel);
      out.set(rel, { data: await readFile(path), mode: (await stat(path)).mode & 0o7777 });
    }
  }
  return out;
}

function samePayload(a: Payload, b: Payload): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const other = b.get(k);
    if (!other || other.mode !== v.mode || !other.data.equals(v.data)) return false;
  }
  return true;
}

function checkPath(rel: string): void {
  if (rel.startsWith("/") || rel.split("/").some((p) => p === ".." || p === "" || p.startsWith(".."))) {
    throw new Error(`invalid volume file path ${JSON.stringify(rel)}`);
  }
}

/** Writes `payload` into `dir` (created when missing); resolves true when anything changed. */
export async function writeAtomically(dir: string, payload: Payload): Promise<boolean> {
  for (const rel of payload.keys()) checkPath(rel);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let current: string | undefined;
  try {
    current = await readlink(join(dir, DATA));
  } catch {
    current = undefined;
  }
  if (current && samePayload(await readTree(join(dir, current)), payload)) return false;

  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, "_")}.${randomBytes(4).toString("hex")}`;
  const next = join(dir, stamp);
  await mkdir(next, { mode: 0o755 });
  for (const [rel, file] of payload) {
    const path = join(next, rel);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, file.data);
    await chmod(path, file.mode);
  }
  const tmpLink = join(dir, "..data_tmp");
  await rm(tmpLink, { force: true });
  await symlink(stamp, tmpLink);
  await rename(tmpLink, join(dir, DATA));

  const visible = new Set([...payload.keys()].map((rel) => rel.split("/")[0]!));
  for (const name of visible) {
    const link = join(dir, name);
    const existing = await lstat(link).catch(() => undefined);
    if (!existing) await symlink(join(DATA, name), link);
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith("..") ? name !== DATA && name !== stamp : !visible.has(name)) {
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }
  return true;
}
