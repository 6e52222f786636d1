/**
 * The probes of one running process, with kubelet's rules: nothing but the startup probe runs
 * until it has passed; readiness flips after `successThreshold` successes or `failureThreshold`
 * failures in a row (no readiness probe: ready once started); liveness or startup failing
 * `failureThreshold` times in a row asks for the process to be killed.
 */
import { type ProbeResult, type ProbeTarget, runProbe } from "./probes.ts";
import type { Container, Probe } from "./types.ts";

export interface ProberEvents {
  started(): void;
  readiness(ready: boolean): void;
  /** One failed attempt (kubelet's `Unhealthy` event). */
  failed(kind: "Startup" | "Readiness" | "Liveness", message: string): void;
  /** Liveness or startup gave up: the process must be restarted. */
  unhealthy(kind: "Startup" | "Liveness", message: string, probe: Probe): void;
}

export class Prober {
  readonly #container: Container;
  readonly #target: ProbeTarget;
  readonly #events: ProberEvents;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  started = false;
  ready = false;

  constructor(container: Container, target: ProbeTarget, events: ProberEvents) {
    this.#container = container;
    this.#target = target;
    this.#events = events;
  }

  start(): void {
    const { startupProbe } = this.#container;
    if (startupProbe) this.#loop("Startup", startupProbe);
    else this.#markStarted();
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #markStarted(): void {
    this.started = true;
    this.#events.started();
    const { readinessProbe, livenessProbe } = this.#container;
    if (readinessProbe) this.#loop("Readiness", readinessProbe);
    else this.#setReady(true);
    if (livenessProbe) this.#loop("Liveness", livenessProbe);
  }

  #setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.#events.readiness(ready);
  }

  #after(ms: number, fn: () => void): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) fn();
    }, ms);
    this.#timers.add(timer);
  }

  #loop(kind: "Startup" | "Readiness" | "Liveness", probe: Probe): void {
    const periodMs = (probe.periodSeconds ?? 10) * 1000;
    const failureThreshold = probe.failureThreshold ?? 3;
    const successThreshold = kind === "Readiness" ? (probe.successThreshold ?? 1) : 1;
    let successes = 0;
    let failures = 0;
    const attempt = async () => {
      const result: ProbeResult = await runProbe(probe, this.#target).catch((err: Error) => ({
        ok: false,
        message: err.message,
      }));
      if (this.#stopped) return;
      if (result.ok) {
        successes++;
        failures = 0;
      } else {
        failures++;
        successes = 0;
        this.#events.failed(kind, result.message);
      }
      if (kind === "Startup") {
        if (result.ok) return this.#markStarted();
        if (failures >= failureThreshold) return this.#events.unhealthy(kind, result.message, probe);
      } else if (kind === "Readiness") {
        if (successes >= successThreshold) this.#setReady(true);
        if (failures >= failureThreshold) this.#setReady(false);
      } else if (failures >= failureThreshold) {
        return this.#events.unhealthy(kind, result.message, probe);
      }
      this.#after(periodMs, attempt);
    };
    this.#after((probe.initialDelaySeconds ?? 0) * 1000, attempt);
  }
}
