/**
 * One pod on the node, synced by a flat list of guarded steps, one sync at a time (kubelet's pod
 * worker): removed from the API → tear down; being deleted (or the node shutting down) → stop the
 * processes within the grace period, write the final status, delete the object; otherwise set up
 * the pod's folder, render its volumes, start or restart its containers, write its status. A step
 * that has to wait returns when to come back; process exits and probe flips ask for a sync at once.
 */

import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Kube } from "@ferry/common/kube";
import { finalDelete, type RawApi } from "./api.ts";
import { writeAtomically } from "./atomic-writer.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { type ContainerHost, ContainerRunner, type Prepared, type StartPlan } from "./container.ts";
import { containerEnv, expand } from "./env.ts";
import type { EventRecorder } from "./events.ts";
import { type ImageMap, resolveLaunch } from "./images.ts";
import { ConfigError, lookupIn } from "./lookup.ts";
import type { MountRequest } from "./mount-plan.ts";
import { allocatePorts, type PortMap, portEnv, resolvePort } from "./ports.ts";
import { desiredStatus, podPhase, rfc3339 } from "./status.ts";
import { newer, writePodStatus } from "./status-writer.ts";
import type { RunningProcess } from "./supervisor.ts";
import type { TokenManager } from "./tokens.ts";
import { type Container, type Pod, type PodCondition, SERVICE_ACCOUNT_MOUNT, type Volume } from "./types.ts";
import {
  AUTOMATIC_SA_VOLUME,
  needsAutomaticServiceAccount,
  renderAutomaticServiceAccount,
  renderVolume,
  type VolumeContext,
} from "./volumes.ts";

export interface WorkerDeps {
  kube: Kube;
  api: RawApi;
  tokens: TokenManager;
  images: ImageMap;
  nodeName: string;
  podsDir: string;
  logsDir: string;
  apiServerPort: number;
  clusterCaPem: string | undefined;
  brokenTag: string;
  backoff: BackoffPolicy;
  volumeSyncMs: number;
  keepLogs: boolean;
  usedPorts: Set<number>;
  record: EventRecorder;
  log: (message: string) => void;
  /** The pod is torn down: forget the worker. */
  gone(worker: PodWorker): void;
}

/** Kubelet's floor for a pod that vanished from the API while its processes still ran. */
const MIN_GRACE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Volumes that hold API data are read-only whatever the mount says (kubelet's ReadOnlyAPIDataVolumes). */
function alwaysReadOnly(volume: Volume | undefined): boolean {
  return Boolean(volume?.secret || volume?.configMap || volume?.projected || volume?.downwardAPI);
}

/** Refuses to delete a folder that still has something mounted under it: rm would follow the mount. */
async function removeUnmounted(dir: string, log: (m: string) => void): Promise<void> {
  const mounts = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const busy = mounts.split("\n").some((line) => line.split(" ")[4]?.startsWith(`${dir}/`));
  if (busy) log(`not removing ${dir}: something is mounted under it in the runtime's namespace`);
  else await rm(dir, { recursive: true, force: true });
}

interface Shutdown {
  graceMs: number;
  done: () => void;
}

export class PodWorker {
  pod: Pod;
  readonly uid: string;
  readonly dir: string;
  readonly logPath: string;
  readonly #deps: WorkerDeps;
  readonly #containers: ContainerRunner[];
  readonly #ports = new Map<string, PortMap>();
  readonly #volumeSources = new Map<string, string>();
  readonly #startTime = rfc3339(Date.now());
  #log: FileHandle | undefined;
  #setUp = false;
  #sandboxReady = false;
  #volumesSyncedAt = 0;
  #mountError: string | undefined;
  #terminal: "Succeeded" | "Failed" | undefined;
  /** The pod was already over when this runtime first saw it: its status is not ours to rewrite. */
  #adoptedTerminal = false;
  #removed = false;
  #termination: { deadline: number; killed: boolean; wasOver: boolean } | undefined;
  #finalDeleted = false;
  #shutdown: Shutdown | undefined;
  #closed = false;
  #running = false;
  #again = false;
  #timer: { at: number; handle: NodeJS.Timeout } | undefined;

  constructor(pod: Pod, deps: WorkerDeps) {
    this.pod = pod;
    this.uid = pod.metadata.uid ?? "";
    this.#deps = deps;
    this.dir = join(deps.podsDir, this.uid);
    this.logPath = join(deps.logsDir, `${pod.metadata.namespace}_${pod.metadata.name}_${this.uid}.log`);
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") {
      this.#terminal = phase;
      this.#adoptedTerminal = true;
    }
    this.#containers = pod.spec.containers.map((spec) => {
      const runner = new ContainerRunner(spec, this.#containerHost(spec));
      // A pod that ran under an earlier runtime keeps counting its restarts.
      const stored = pod.status?.containerStatuses?.find((s) => s.name === spec.name);
      if (stored?.state?.running || stored?.state?.terminated || stored?.lastState?.terminated) {
        runner.restartCount = stored.restartCount;
      }
      return runner;
    });
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  /** Still on the node: not removed, not torn down. */
  get active(): boolean {
    return !this.#removed && !this.#closed;
  }

  container(name?: string): ContainerRunner | undefined {
    return name ? this.#containers.find((c) => c.spec.name === name) : this.#containers[0];
  }

  ports(container?: string): Record<string, number> {
    const map = this.#ports.get(container ?? this.pod.spec.containers[0]?.name ?? "");
    return { ...map?.byName };
  }

  update(pod: Pod): void {
    if (!newer(pod, this.pod)) return;
    this.pod = pod;
    this.kick();
  }

  remove(): void {
    this.#removed = true;
    this.kick();
  }

  /**
   * The node is stopping. `leave`: kill the processes and write nothing (a kubelet that died);
   * otherwise stop them within min(grace period, graceMs) and mark the pod Failed as kubelet's
   * graceful node shutdown does.
   */
  async shutdown(graceMs: number, leave: boolean): Promise<void> {
    if (this.#closed) return;
    if (leave) {
      this.#removed = true;
      for (const c of this.#containers) {
        c.detach();
        c.signal("SIGKILL");
      }
      await Promise.all(this.#containers.map((c) => c.exited()));
      return;
    }
    await new Promise<void>((done) => {
      this.#shutdown = { graceMs, done };
      this.kick();
    });
  }

  /** Removes what the pod left on disk, once the runtime no longer syncs it. */
  async cleanUp(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer.handle);
    await this.#log?.close().catch(() => {});
    await removeUnmounted(this.dir, this.#deps.log);
    if (!this.#deps.keepLogs) await rm(this.logPath, { force: true });
    this.#deps.tokens.forget(this.uid);
    for (const map of this.#ports.values())
      for (const port of Object.values(map.byNumber)) this.#deps.usedPorts.delete(port);
  }

  kick(delayMs = 0): void {
    if (this.#closed) return;
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      if (this.#timer && this.#timer.at <= at) return;
      if (this.#timer) clearTimeout(this.#timer.handle);
      const handle = setTimeout(() => {
        this.#timer = undefined;
        this.kick();
      }, delayMs);
      this.#timer = { at, handle };
      return;
    }
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      let requeue: number | undefined;
      try {
        requeue = await this.#sync();
      } catch (err) {
        this.#deps.log(`pod ${this.key}: sync failed, retrying: ${(err as Error).message}`);
        requeue = 2000;
      }
      if (requeue !== undefined && !this.#again) this.kick(Math.max(requeue, 10));
    } while (this.#again && !this.#closed);
    this.#running = false;
  }

  async #sync(): Promise<number | undefined> {
    if (this.#closed) return undefined;
    if (this.#removed) return this.#tearDown();
    if (this.pod.metadata.deletionTimestamp || this.#shutdown) return this.#terminate();
    if (this.#terminal) return undefined;
    await this.#prepareSandbox();
    let requeue = Number.POSITIVE_INFINITY;
    const volumesDue = this.#volumesSyncedAt + this.#deps.volumeSyncMs - Date.now();
    if (!this.#sandboxReady || volumesDue <= 0) {
      const error = await this.#syncVolumes();
      if (error && error !== this.#mountError) this.#event("Warning", "FailedMount", error);
      this.#mountError = error;
      if (error) requeue = 2000;
    }
    for (const c of this.#containers) {
      const spec = this.pod.spec.containers.find((s) => s.name === c.spec.name);
      if (spec && spec.image !== c.spec.image) c.replace(spec);
    }
    if (this.#sandboxReady) {
      for (const c of this.#containers) {
        const next = await c.sync();
        if (next !== undefined) requeue = Math.min(requeue, next);
      }
    }
    const views = this.#containers.map((c) => c.view());
    const phase = podPhase(this.pod.spec.restartPolicy, views);
    if (phase === "Succeeded" || phase === "Failed") this.#terminal = phase;
    await this.#writeStatus();
    // The next volume refresh; until the first one succeeded, the 2 s retry above stands.
    if (!this.#terminal && this.#sandboxReady)
      requeue = Math.min(requeue, this.#volumesSyncedAt + this.#deps.volumeSyncMs - Date.now());
    return Number.isFinite(requeue) ? requeue : undefined;
  }

  /** The pod's folder (0700), its log and its host ports, once. */
  async #prepareSandbox(): Promise<void> {
    if (this.#setUp) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, "volumes"), { mode: 0o700 }).catch(() => {});
    this.#log ??= await open(this.logPath, "a", 0o600);
    for (const c of this.pod.spec.containers) {
      if (!this.#ports.has(c.name)) this.#ports.set(c.name, await allocatePorts(c, this.#deps.usedPorts));
    }
    this.#setUp = true;
  }

  /** Renders every volume; resolves to a message a user can act on when one cannot be made. */
  async #syncVolumes(): Promise<string | undefined> {
    const ctx: VolumeContext = {
      pod: this.pod,
      lookup: lookupIn(this.#deps.kube, this.pod.metadata.namespace ?? "default"),
      tokens: this.#deps.tokens,
      clusterCaPem: this.#deps.clusterCaPem,
    };
    const volumes: { name: string; render: () => ReturnType<typeof renderVolume> }[] = (
      this.pod.spec.volumes ?? []
    ).map((v) => ({ name: v.name, render: () => renderVolume(v, ctx) }));
    if (needsAutomaticServiceAccount(this.pod)) {
      volumes.push({ name: AUTOMATIC_SA_VOLUME, render: () => renderAutomaticServiceAccount(ctx) });
    }
    for (const volume of volumes) {
      const path = join(this.dir, "volumes", volume.name);
      try {
        const rendered = await volume.render();
        if (rendered.kind === "files") {
          if ((await writeAtomically(path, rendered.payload)) && this.#sandboxReady) {
            this.#deps.log(`pod ${this.key}: volume ${volume.name} updated`);
          }
          this.#volumeSources.set(volume.name, path);
        } else if (rendered.kind === "emptyDir") {
          await mkdir(path, { recursive: true, mode: 0o777 });
          this.#volumeSources.set(volume.name, path);
        } else {
          if (rendered.type === "DirectoryOrCreate") await mkdir(rendered.path, { recursive: true });
          this.#volumeSources.set(volume.name, rendered.path);
        }
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        // Before the first start nothing runs without it; later the last good content stays.
        if (!this.#sandboxReady)
          return `MountVolume.SetUp failed for volume "${volume.name}" : ${err.message}`;
        this.#deps.log(`pod ${this.key}: volume ${volume.name} not refreshed: ${err.message}`);
      }
    }
    this.#volumesSyncedAt = Date.now();
    this.#sandboxReady = true;
    return undefined;
  }

  async #prepare(container: Container): Promise<Prepared> {
    const deps = this.#deps;
    if (this.pod.spec.initContainers?.length) {
      // Said out loud rather than skipped: a pod whose init containers did not run is not that pod.
      return {
        ok: false,
        reason: "CreateContainerConfigError",
        message: "init containers are not supported by the process runtime",
      };
    }
    const launch = resolveLaunch(container, deps.images, {
      brokenTag: deps.brokenTag,
      execPath: process.execPath,
    });
    if (!launch.ok) return launch;
    const ports = this.#ports.get(container.name) ?? { byName: {}, byNumber: {} };
    try {
      const env = await containerEnv(container, {
        pod: this.pod,
        lookup: lookupIn(deps.kube, this.pod.metadata.namespace ?? "default"),
        base: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...launch.env },
        runtime: {
          HOSTNAME: this.#hostname(),
          KUBERNETES_SERVICE_HOST: "127.0.0.1",
          KUBERNETES_SERVICE_PORT: String(deps.apiServerPort),
          KUBERNETES_SERVICE_PORT_HTTPS: String(deps.apiServerPort),
          FERRY_IMAGE_TAG: launch.tag,
          ...portEnv(container, ports),
        },
      });
      const mounts = await this.#mounts(container);
      return {
        ok: true,
        plan: {
          argv: launch.argv.map((arg) => expand(arg, (name) => env[name])),
          shownArgv: launch.argv,
          env,
          workingDir: launch.workingDir,
          mounts,
          tag: launch.tag,
        },
      };
    } catch (err) {
      if (err instanceof ConfigError)
        return { ok: false, reason: "CreateContainerConfigError", message: err.message };
      throw err;
    }
  }

  async #mounts(container: Container): Promise<MountRequest[]> {
    const volumes = new Map((this.pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const mounts: MountRequest[] = [];
    for (const m of container.volumeMounts ?? []) {
      const root = this.#volumeSources.get(m.name);
      if (!root) throw new ConfigError(`volume "${m.name}" of mount ${m.mountPath} is not defined`);
      const source = m.subPath ? join(root, m.subPath) : root;
      const info = await stat(source).catch(() => undefined);
      if (!info) throw new ConfigError(`subPath ${m.subPath} of volume "${m.name}" does not exist`);
      const readOnly = Boolean(m.readOnly) || alwaysReadOnly(volumes.get(m.name));
      mounts.push({ source, target: m.mountPath, readOnly, file: !info.isDirectory() });
    }
    const automatic = this.#volumeSources.get(AUTOMATIC_SA_VOLUME);
    if (automatic && needsAutomaticServiceAccount(this.pod)) {
      mounts.push({ source: automatic, target: SERVICE_ACCOUNT_MOUNT, readOnly: true, file: false });
    }
    return mounts;
  }

  #hostname(): string {
    return (this.pod.spec.hostname || this.pod.metadata.name).slice(0, 63);
  }

  #event(type: "Normal" | "Warning", reason: string, message: string, container?: string): void {
    this.#deps.record(this.pod, type, reason, message, container);
  }

  #containerHost(spec: Container): ContainerHost {
    return {
      pod: () => this.pod,
      prepare: (c) => this.#prepare(c),
      scratch: async (name) => {
        const dir = join(this.dir, "run", name);
        // The previous start's mount points were in its own namespace: on the host they are empty.
        await removeUnmounted(dir, this.#deps.log);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        return dir;
      },
      log: () => {
        if (!this.#log) throw new Error("the pod's log is not open");
        return this.#log;
      },
      logLine: (line) => this.#logLine(line),
      changed: () => this.kick(),
      event: (type, reason, message) => this.#event(type, reason, message, spec.name),
      probeTarget: (c: Container, proc: RunningProcess, plan: StartPlan) => ({
        port: (port) => resolvePort(port, this.#ports.get(c.name) ?? { byName: {}, byNumber: {} }),
        pid: proc.pid,
        exec: (command) => {
          const launch = resolveLaunch({ image: c.image, command }, this.#deps.images, {
            brokenTag: this.#deps.brokenTag,
            execPath: process.execPath,
          });
          return launch.ok ? { argv: launch.argv, env: plan.env } : undefined;
        },
      }),
      hostname: this.#hostname(),
      backoff: this.#deps.backoff,
      now: () => Date.now(),
    };
  }

  #logLine(line: string): void {
    this.#log?.write(`[process-node ${new Date().toISOString()}] ${line}\n`).catch(() => {});
  }

  async #writeStatus(extra?: { reason: string; message: string; conditions: PodCondition[] }): Promise<void> {
    if (this.#removed || this.#finalDeleted || this.#adoptedTerminal) return;
    const desired = desiredStatus(
      this.pod,
      {
        containers: this.#containers.map((c) => c.view()),
        startTime: this.#startTime,
        sandboxReady: this.#sandboxReady,
        ...(this.#terminal ? { terminal: this.#terminal } : {}),
        ...(extra ? { reason: extra.reason, message: extra.message, extraConditions: extra.conditions } : {}),
      },
      rfc3339(Date.now()),
    );
    const result = await writePodStatus(this.#deps.kube, this.pod, desired);
    // The written object is the newest one known; no new sync is needed for it.
    if (result.kind === "written" && newer(result.pod, this.pod)) this.pod = result.pod;
    else if (result.kind === "conflict" && result.pod) {
      this.pod = result.pod;
      this.#again = true;
    }
  }

  async #terminate(): Promise<number | undefined> {
    const now = Date.now();
    const spec = this.pod.spec.terminationGracePeriodSeconds ?? 30;
    const graceMs = this.#shutdown
      ? Math.min(spec * 1000, this.#shutdown.graceMs)
      : (this.pod.metadata.deletionGracePeriodSeconds ?? spec) * 1000;
    if (!this.#termination) {
      this.#termination = { deadline: now + graceMs, killed: false, wasOver: this.#terminal !== undefined };
      this.#logLine(
        `pod is being ${this.#shutdown ? "stopped with its node" : "deleted"}: grace period ${graceMs / 1000}s`,
      );
      for (const c of this.#containers) c.terminate();
    } else {
      // A second delete with a shorter grace period shortens the wait, as with kubelet.
      this.#termination.deadline = Math.min(this.#termination.deadline, now + graceMs);
    }
    if (this.#containers.some((c) => c.running)) {
      if (now < this.#termination.deadline) return this.#termination.deadline - now;
      if (!this.#termination.killed) {
        this.#termination.killed = true;
        this.#logLine("grace period over: SIGKILL");
        for (const c of this.#containers) c.signal("SIGKILL");
      }
      return 200;
    }
    // Graceful node shutdown fails the pod whatever the exit codes (kubelet's nodeshutdown manager).
    this.#terminal ??=
      !this.#shutdown &&
      podPhase(
        this.pod.spec.restartPolicy,
        this.#containers.map((c) => c.view()),
        true,
      ) === "Succeeded"
        ? "Succeeded"
        : "Failed";
    if (this.#shutdown) {
      // A pod that had already finished is left as it is; a running one is ended by the shutdown.
      if (!this.#termination.wasOver)
        await this.#writeStatus({
          reason: "Terminated",
          message: "Pod was terminated in response to imminent node shutdown.",
          conditions: [
            {
              type: "DisruptionTarget",
              status: "True",
              reason: "TerminationByKubelet",
              message: "Pod was terminated in response to imminent node shutdown.",
              lastTransitionTime: rfc3339(now),
            },
          ],
        }).catch((err: Error) => this.#deps.log(`pod ${this.key}: final status not written: ${err.message}`));
      this.#shutdown.done();
      this.#removed = true;
      return undefined;
    }
    if (!this.#finalDeleted) {
      await this.#writeStatus();
      const pod = this.pod.metadata;
      await finalDelete(this.#deps.api, {
        namespace: pod.namespace ?? "default",
        name: pod.name,
        uid: this.uid,
      });
      this.#finalDeleted = true;
      this.#logLine("pod deleted");
      // Nothing runs any more: the pod's files go now, not when the watch reports the deletion.
      this.#removed = true;
      return this.#tearDown();
    }
    return undefined;
  }

  async #tearDown(): Promise<undefined> {
    if (this.#containers.some((c) => c.running)) {
      if (!this.#termination) for (const c of this.#containers) c.terminate();
      await Promise.race([Promise.all(this.#containers.map((c) => c.exited())), sleep(MIN_GRACE_MS)]);
      for (const c of this.#containers) c.signal("SIGKILL");
      await Promise.all(this.#containers.map((c) => c.exited()));
    }
    await this.cleanUp();
    this.#deps.gone(this);
    return undefined;
  }
}
