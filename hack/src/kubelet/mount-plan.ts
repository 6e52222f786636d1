/**
 * How a process sees its volumes at their real mountPaths without touching the host's file tree.
 *
 * Each container process starts in a private mount namespace (`unshare --mount --propagation
 * private`), where a shell script made here bind-mounts every volume at its mountPath before it
 * execs the command. A mountPath that exists on the host is simply mounted over. One that does not
 * (most of them: /var/run/ferry/credential-key, /var/run/secrets/...) cannot be created with mkdir,
 * which would write to the host's disk; instead the deepest folder that exists (here /run) is
 * covered, inside the namespace only, by a tmpfs that re-binds every entry of the original, so it
 * looks the same and the missing folders can be made in memory. When even the first component is
 * new (/data), the same is done for / and the command runs chrooted into that copy.
 *
 * Pure: the host is read through `HostView`, so the plan is tested without root.
 */
import { posix } from "node:path";

export interface MountRequest {
  /** A host path: the rendered volume folder, or a file or folder inside it (subPath). */
  source: string;
  /** The mountPath as the pod spec gives it. */
  target: string;
  readOnly: boolean;
  /** The source is a file (a subPath to a file): the mount point must be a file too. */
  file: boolean;
}

export type HostKind = "dir" | "file" | "symlink" | "missing";

export interface HostView {
  /** What `path` is, without following a symlink at its last component. */
  kind(path: string): HostKind;
  readlink(path: string): string;
  list(dir: string): string[];
  /** Mode bits and owner of a folder, so the tmpfs that covers it keeps them. */
  owner(dir: string): { mode: number; uid: number; gid: number };
}

export interface ScriptInput {
  mounts: MountRequest[];
  /** A folder of the pod that may hold the tmpfs mount points (created by the caller). */
  scratch: string;
  workingDir: string;
  /** Set only when the process has its own UTS namespace. */
  hostname?: string;
  /** Touched just before exec: an exit without it is a start failure, not the program's. */
  startedMarker: string;
}

export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

class Plan {
  readonly lines: string[] = [];
  /** Paths that exist only inside the namespace (made in one of our tmpfs). */
  readonly created = new Set<string>();
  /** Folders in which an entry may be made without writing to the host: our tmpfs and what we made. */
  readonly ours = new Set<string>();
  root = "";
  #skeletons = 0;
  readonly host: HostView;
  readonly scratch: string;

  constructor(host: HostView, scratch: string) {
    this.host = host;
    this.scratch = scratch;
  }

  kind(path: string): HostKind {
    return this.created.has(path) ? "dir" : this.host.kind(path);
  }

  /** `path` with every symlink of the host resolved (a missing tail is kept as written). */
  resolve(path: string, depth = 0): string {
    if (depth > 40) throw new Error(`${path}: too many levels of symbolic links`);
    let current = "/";
    const parts = posix.normalize(path).split("/").filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const next = posix.join(current, parts[i]!);
      if (!this.created.has(next) && this.host.kind(next) === "symlink") {
        const link = this.host.readlink(next);
        const target = posix.isAbsolute(link) ? link : posix.join(current, link);
        return this.resolve(posix.join(target, ...parts.slice(i + 1)), depth + 1);
      }
      current = next;
    }
    return current;
  }

  /** Copies the entries of host folder `dir` into tmpfs `into` (binds, and symlinks as they are). */
  replicate(dir: string, into: string): void {
    for (const name of this.host.list(dir)) {
      const from = posix.join(dir, name);
      const to = posix.join(into, name);
      switch (this.host.kind(from)) {
        case "symlink":
          this.lines.push(`ln -s ${q(this.host.readlink(from))} ${q(to)}`);
          break;
        case "dir":
          this.lines.push(`mkdir ${q(to)} && mount --rbind ${q(from)} ${q(to)}`);
          break;
        case "file":
          this.lines.push(`touch ${q(to)} && mount --bind ${q(from)} ${q(to)}`);
          break;
      }
    }
  }

  tmpfs(dir: string, at: string): void {
    const { mode, uid, gid } = this.host.owner(dir);
    this.lines.push(`mkdir -p ${q(at)}`);
    this.lines.push(
      `mount -t tmpfs -o mode=${(mode & 0o7777).toString(8)},uid=${uid},gid=${gid} ferry-volumes ${q(at)}`,
    );
  }

  /** Covers `/` with a copy in `<scratch>/root`; the command is then chrooted there. */
  coverRoot(): void {
    this.root = posix.join(this.scratch, "root");
    this.tmpfs("/", this.root);
    this.replicate("/", this.root);
    this.ours.add("/");
  }

  /** Covers host folder `dir` with a tmpfs copy, inside the namespace. */
  cover(dir: string): void {
    const at = posix.join(this.scratch, `cover-${this.#skeletons++}`);
    this.tmpfs(dir, at);
    this.replicate(dir, at);
    this.lines.push(`mount --move ${q(at)} ${q(this.root + dir)}`);
    this.ours.add(dir);
  }

  mount(m: MountRequest): void {
    const target = this.resolve(m.target);
    if (this.kind(target) === "missing") {
      let ancestor = posix.dirname(target);
      while (this.kind(ancestor) === "missing") ancestor = posix.dirname(ancestor);
      if (this.kind(ancestor) !== "dir")
        throw new Error(`mountPath ${m.target}: ${ancestor} is not a folder`);
      if (!this.ours.has(ancestor)) this.cover(ancestor);
      const missing = target.slice(ancestor === "/" ? 1 : ancestor.length + 1).split("/");
      let path = ancestor;
      for (const [i, part] of missing.entries()) {
        path = posix.join(path, part);
        const last = i === missing.length - 1;
        this.lines.push(`${last && m.file ? "touch" : "mkdir"} ${q(this.root + path)}`);
        if (!(last && m.file)) {
          this.created.add(path);
          this.ours.add(path);
        }
      }
    } else {
      const isDir = this.kind(target) === "dir";
      if (isDir === m.file) {
        throw new Error(
          `mountPath ${m.target}: a ${m.file ? "file" : "folder"} cannot be mounted on a ${isDir ? "folder" : "file"}`,
        );
      }
    }
    this.lines.push(`mount --bind ${q(m.source)} ${q(this.root + target)}`);
    if (m.readOnly) this.lines.push(`mount -o remount,bind,ro ${q(this.root + target)}`);
  }
}

/** The script `sh -c` runs inside the new namespaces, with the command line as its arguments. */
export function mountScript(input: ScriptInput, host: HostView): string {
  const plan = new Plan(host, input.scratch);
  const mounts = [...input.mounts].sort(
    (a, b) => a.target.split("/").length - b.target.split("/").length || a.target.localeCompare(b.target),
  );
  // A new top-level folder needs a copy of / itself, and that must come before anything else.
  if (mounts.some((m) => host.kind(`/${plan.resolve(m.target).split("/")[1]}`) === "missing"))
    plan.coverRoot();
  for (const m of mounts) plan.mount(m);
  if (input.hostname) plan.lines.push(`hostname ${q(input.hostname)}`);
  const start = [
    `cd ${q(input.workingDir)}`,
    // What runc says when the entry point is missing; checked here so it counts as a start failure.
    `command -v "$1" >/dev/null 2>&1 || { echo "exec: \\"$1\\": executable file not found in \\$PATH" >&2; exit 127; }`,
    `: > ${q(input.startedMarker)}`,
    "unset PWD OLDPWD",
    'exec "$@"',
  ].join("\n");
  const tail = plan.root ? `exec chroot ${q(plan.root)} /bin/sh -c ${q(start)} sh "$@"` : start;
  return ["set -e", ...plan.lines, tail].join("\n");
}
