/**
 * One container of a pod: starts its process, watches it exit, restarts it under the pod's
 * restartPolicy with crash-loop backoff, runs its probes, and keeps the state kubelet would report
 * (waiting / running / terminated, lastState, ready, started, restartCount).
 */
import type { FileHandle } from "node:fs/promises";
import { type BackoffPolicy, nextDelay } from "./backoff.ts";
import type { MountRequest } from "./mount-plan.ts";
import { Prober } from "./prober.ts";
import type { ProbeTarget } from "./probes.ts";
import { type ContainerView, rfc3339 } from "./status.ts";
import { type Exit, type RunningProcess, startProcess } from "./supervisor.ts";
import type { Container, ContainerState, ContainerStateTerminated, Pod, Probe } from "./types.ts";

export interface StartPlan {
  argv: string[];
  /** The command line before $(VAR) expansion: what the log shows, as an expanded Secret must not be. */
  shownArgv: string[];
  env: Record<string, string>;
  workingDir: string;
  mounts: MountRequest[];
  tag: string;
}

export type Prepared =
  | { ok: true; plan: StartPlan }
  | { ok: false; reason: "ErrImagePull" | "CreateContainerConfigError"; message: string };

/** What the pod gives each of its containers. */
export interface ContainerHost {
  pod(): Pod;
  prepare(container: Container): Promise<Prepared>;
  /** A fresh folder of the pod for one start of one container. */
  scratch(container: string): Promise<string>;
  log(): FileHandle;
  logLine(line: string): void;
  /** Something the status shows has changed: sync the pod. */
  changed(): void;
  event(type: "Normal" | "Warning", reason: string, message: string): void;
  probeTarget(container: Container, process: RunningProcess, plan: StartPlan): ProbeTarget;
  hostname: string;
  backoff: BackoffPolicy;
  now(): number;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

export class ContainerRunner {
  spec: Container;
  readonly #host: ContainerHost;
  state: ContainerState = { waiting: { reason: "ContainerCreating" } };
  lastState: ContainerState = {};
  restartCount = 0;
  ready = false;
  started = false;
  containerID: string | undefined;
  #process: RunningProcess | undefined;
  #prober: Prober | undefined;
  #crashes = 0;
  #pullFailures = 0;
  #lastFailure: string | undefined;
  #nextStartAt = 0;
  #everRan = false;
  /** Will not be started again: finished under its restart policy, or its pod is going away. */
  #done = false;
  #stopping = false;
  /** Stopped because its spec changed: start again at once. */
  #replaced = false;
  readonly #probeFailing = new Set<string>();

  constructor(spec: Container, host: ContainerHost) {
    this.spec = spec;
    this.#host = host;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Settles when the current process (if any) has exited. */
  async exited(): Promise<void> {
    await this.#process?.exited;
  }

  view(): ContainerView {
    return {
      name: this.spec.name,
      image: this.spec.image,
      imageID: `process://${this.spec.image}`,
      ...(this.containerID ? { containerID: this.containerID } : {}),
      state: this.state,
      lastState: this.lastState,
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
    };
  }

  /** Starts the process when it should run and may; resolves to when to look again (ms), if ever. */
  async sync(): Promise<number | undefined> {
    if (this.#process || this.#done || this.#stopping) return undefined;
    const host = this.#host;
    const now = host.now();
    if (now < this.#nextStartAt) {
      if (this.state.waiting?.reason === "ErrImagePull") {
        this.state = {
          waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${this.spec.image}"` },
        };
        host.changed();
      }
      return this.#nextStartAt - now;
    }
    const prepared = await host.prepare(this.spec);
    if (!prepared.ok) return this.#stopping ? undefined : this.#notStarted(prepared.reason, prepared.message);
    this.#pullFailures = 0;
    this.#lastFailure = undefined;
    const scratch = await host.scratch(this.spec.name);
    // No await from here to the start: a stop that came in meanwhile is seen here or sees the process.
    if (this.#stopping) return undefined;
    let process: RunningProcess;
    try {
      process = startProcess({ ...prepared.plan, hostname: host.hostname, scratch, log: host.log() });
    } catch (err) {
      return this.#notStarted("CreateContainerConfigError", (err as Error).message);
    }
    if (this.#everRan) this.restartCount++;
    this.#everRan = true;
    this.#process = process;
    this.containerID = `process://${process.pid}`;
    this.state = { running: { startedAt: rfc3339(process.startedAt.getTime()) } };
    host.logLine(
      `container ${this.spec.name} started (pid ${process.pid}): ${prepared.plan.shownArgv.join(" ")}`,
    );
    host.event("Normal", "Started", `Started container ${this.spec.name}`);
    const prober = new Prober(this.spec, host.probeTarget(this.spec, process, prepared.plan), {
      started: () => {
        this.started = true;
        host.changed();
      },
      readiness: (ready) => {
        if (ready) this.#probeFailing.delete("Readiness");
        this.ready = ready;
        host.changed();
      },
      failed: (kind, message) => {
        // Kubelet repeats the event on every failure; once per run of failures is enough here.
        if (this.#probeFailing.has(kind)) return;
        this.#probeFailing.add(kind);
        host.event("Warning", "Unhealthy", `${kind} probe failed: ${message}`);
      },
      unhealthy: (kind, message, probe) => this.#unhealthy(process, kind, message, probe),
    });
    this.#prober = prober;
    prober.start();
    process.exited.then((exit) => this.#exited(process, exit));
    host.changed();
    return undefined;
  }

  #notStarted(reason: "ErrImagePull" | "CreateContainerConfigError", message: string): number {
    const host = this.#host;
    const { baseMs, maxMs } = host.backoff;
    let delay: number;
    const text =
      reason === "ErrImagePull"
        ? `Failed to pull image "${this.spec.image}": ${message}`
        : `Error: ${message}`;
    // One event per distinct failure: retries of the same one would only bury the others.
    if (text !== this.#lastFailure) host.event("Warning", "Failed", text);
    this.#lastFailure = text;
    if (reason === "ErrImagePull") {
      this.#pullFailures++;
      delay = Math.min(baseMs * 2 ** (this.#pullFailures - 1), maxMs);
    } else {
      delay = Math.min(baseMs, 10_000);
    }
    this.#nextStartAt = host.now() + delay;
    this.state = { waiting: { reason, message } };
    host.changed();
    // Show ErrImagePull for a moment, then ImagePullBackOff until the next attempt (as kubelet does).
    return reason === "ErrImagePull" ? Math.min(delay, 1000) : delay;
  }

  #unhealthy(process: RunningProcess, kind: string, message: string, probe: Probe): void {
    if (this.#process !== process) return;
    const pod = this.#host.pod();
    const graceS = probe.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    this.#host.event(
      "Normal",
      "Killing",
      `Container ${this.spec.name} failed ${kind.toLowerCase()} probe, will be restarted: ${message}`,
    );
    this.#host.logLine(
      `container ${this.spec.name}: ${kind.toLowerCase()} probe failed (${message}); stopping it`,
    );
    process.signal("SIGTERM");
    const timer = setTimeout(() => process.signal("SIGKILL"), graceS * 1000);
    process.exited.then(() => clearTimeout(timer));
  }

  #exited(process: RunningProcess, exit: Exit): void {
    if (this.#process !== process) return;
    const host = this.#host;
    this.#prober?.stop();
    this.#prober = undefined;
    this.#probeFailing.clear();
    this.#process = undefined;
    this.ready = false;
    this.started = false;
    const finished = host.now();
    const terminated: ContainerStateTerminated = {
      exitCode: exit.started ? exit.exitCode : 128,
      reason: !exit.started ? "StartError" : exit.exitCode === 0 ? "Completed" : "Error",
      ...(!exit.started ? { message: "the process could not be started: see the pod's log" } : {}),
      startedAt: this.state.running?.startedAt ?? rfc3339(finished),
      finishedAt: rfc3339(finished),
      ...(this.containerID ? { containerID: this.containerID } : {}),
    };
    host.logLine(
      `container ${this.spec.name} exited with code ${terminated.exitCode}${exit.signal ? ` (${exit.signal})` : ""}`,
    );
    const policy = host.pod().spec.restartPolicy ?? "Always";
    const restart =
      !this.#stopping && (policy === "Always" || (policy === "OnFailure" && terminated.exitCode !== 0));
    if (this.#replaced && !this.#stopping) {
      // Stopped for a new spec: started again at once, whatever the policy (kubelet does the same).
      this.#replaced = false;
      this.#nextStartAt = 0;
      this.lastState = { terminated };
      this.state = { waiting: { reason: "ContainerCreating" } };
    } else if (restart) {
      const ranMs = finished - process.startedAt.getTime();
      const { delayMs, crashes } = nextDelay(host.backoff, this.#crashes, ranMs);
      this.#crashes = crashes;
      this.#nextStartAt = finished + delayMs;
      this.lastState = { terminated };
      const pod = host.pod().metadata;
      this.state = {
        waiting: {
          reason: "CrashLoopBackOff",
          message: `back-off ${seconds(delayMs)} restarting failed container=${this.spec.name} pod=${pod.name}_${pod.namespace}(${pod.uid})`,
        },
      };
      host.event("Warning", "BackOff", `Back-off restarting failed container ${this.spec.name}`);
    } else {
      this.state = { terminated };
      this.#done = true;
    }
    host.changed();
  }

  /**
   * The pod's container changed in place (its image: the only container field a pod may change).
   * Kubelet stops the old container within the grace period and starts the new one.
   */
  replace(spec: Container): void {
    this.spec = spec;
    this.#lastFailure = undefined;
    this.#pullFailures = 0;
    const process = this.#process;
    if (!process) {
      if (!this.#stopping) {
        this.#nextStartAt = 0;
        this.#done = false;
      }
      return;
    }
    this.#replaced = true;
    this.#host.event("Normal", "Killing", `Container ${spec.name} definition changed, will be restarted`);
    process.signal("SIGTERM");
    const graceS = this.#host.pod().spec.terminationGracePeriodSeconds ?? 30;
    const timer = setTimeout(() => process.signal("SIGKILL"), graceS * 1000);
    process.exited.then(() => clearTimeout(timer));
  }

  /** The pod is going away: no more starts; SIGTERM to the process, if one runs. */
  terminate(): void {
    this.#stopping = true;
    if (this.state.waiting) {
      // A container that never ran (or waits to restart) ends here, as kubelet reports it.
      this.state = this.lastState.terminated
        ? { terminated: this.lastState.terminated }
        : {
            terminated: {
              exitCode: 137,
              reason: "ContainerStatusUnknown",
              message: "The container could not be located when the pod was terminated",
              finishedAt: rfc3339(this.#host.now()),
            },
          };
    }
    if (this.#process) {
      this.#host.event("Normal", "Killing", `Stopping container ${this.spec.name}`);
      this.#process.signal("SIGTERM");
    }
  }

  signal(signal: NodeJS.Signals): boolean {
    if (!this.#process) return false;
    this.#process.signal(signal);
    return true;
  }

  /** Stops probing without touching the process (the runtime is leaving it to die with it). */
  detach(): void {
    this.#stopping = true;
    this.#prober?.stop();
  }
}
