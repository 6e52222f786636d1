/**
 * Kubernetes Events about Ferry's objects (what `kubectl describe` lists under "Events"), written
 * as `events.k8s.io/v1` Events; the API server serves the same objects as core v1 Events.
 *
 * A reconcile that fails retries with backoff and would report the same failure each time; an
 * identical event (same object, type, reason, action and message) within `windowMs` of the last one
 * therefore does not create a new object but raises the `series.count` of the first ("x5 over
 * 3m"). Recording never throws into the caller: an event is a report, and failing to report must
 * not fail the reconcile that is reporting. Failures are logged.
 *
 * Messages are readable by anyone who may read Events in the namespace. Never put a secret in one
 * (credentials, keys, tokens, connection strings with passwords): that is the caller's duty, as it
 * is for condition messages.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { isNotFound, type Kube, type KubeObject } from "../kube.ts";
import { microTime } from "./time.ts";

export type EventType = "Normal" | "Warning";

export interface EventRecorderOptions {
  /** The reporting controller, e.g. `ferry-operator` (a qualified name). */
  component: string;
  /** Which replica reports; defaults to the host name (the pod name in a pod). */
  host?: string;
  /** Identical events this close together are counted as one series. Default 10 minutes. */
  windowMs?: number;
  /** Series remembered at most (oldest forgotten first). Default 1000. */
  maxTracked?: number;
}

interface EventObject extends KubeObject {
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  note: string;
  type: EventType;
  regarding: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
}

interface Series {
  /** The Event object carrying this series. */
  name: string;
  namespace: string;
  count: number;
  /** The count last written to the server. */
  written: number;
  lastSeen: number;
  /** Writes of one series happen in order, one at a time. */
  chain: Promise<void>;
}

/** The API server refuses notes longer than this (bytes). */
const NOTE_LIMIT = 1024;

export class EventRecorder {
  readonly #kube: Kube;
  readonly #log: Logger;
  readonly #component: string;
  readonly #instance: string;
  readonly #windowMs: number;
  readonly #maxTracked: number;
  readonly #series = new Map<string, Series>();

  constructor(kube: Kube, options: EventRecorderOptions, log: Logger) {
    this.#kube = kube;
    this.#log = log.child({ component: "events" });
    this.#component = options.component;
    this.#instance = `${options.component}-${options.host ?? hostname()}`.slice(0, 128);
    this.#windowMs = options.windowMs ?? 10 * 60_000;
    this.#maxTracked = options.maxTracked ?? 1000;
  }

  /**
   * Records an event about `object`. `reason` is CamelCase (`NodeOffline`); `action` what was
   * done or tried (`Reconcile`, `Rollout`), the reason when absent. Resolves once written (or
   * given up); never rejects.
   */
  async event(
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string,
    action: string = reason,
  ): Promise<void> {
    const note = truncate(message, NOTE_LIMIT);
    const { apiVersion, kind, metadata } = object;
    const key = JSON.stringify([
      metadata.uid ?? "",
      apiVersion,
      kind,
      metadata.namespace ?? "",
      metadata.name,
      type,
      reason,
      action,
      note,
    ]);
    const now = Date.now();
    let series = this.#series.get(key);
    if (series && now - series.lastSeen < this.#windowMs) {
      series.count += 1;
      series.lastSeen = now;
    } else {
      series = {
        name: eventName(metadata.name),
        namespace: metadata.namespace ?? "default",
        count: 1,
        written: 0,
        lastSeen: now,
        chain: Promise.resolve(),
      };
      this.#series.delete(key);
      this.#series.set(key, series);
      for (const oldest of this.#series.keys()) {
        if (this.#series.size <= this.#maxTracked) break;
        this.#series.delete(oldest);
      }
    }
    const target = series;
    const event: Omit<EventObject, "metadata" | "eventTime"> = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      reportingController: this.#component,
      reportingInstance: this.#instance,
      action,
      reason,
      note,
      type,
      regarding: {
        apiVersion,
        kind,
        name: metadata.name,
        ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
        ...(metadata.uid ? { uid: metadata.uid } : {}),
      },
    };
    target.chain = target.chain.then(() =>
      this.#write(target, event).catch((err: unknown) => {
        this.#log.warn(
          { err, object: `${kind} ${metadata.namespace ?? ""}/${metadata.name}`, reason },
          "could not record an event",
        );
      }),
    );
    await target.chain;
  }

  async #write(series: Series, event: Omit<EventObject, "metadata" | "eventTime">): Promise<void> {
    // Several repeats waiting behind one write are one write of the latest count.
    const count = series.count;
    if (count === series.written) return;
    const now = microTime(new Date());
    if (series.written > 0) {
      try {
        await this.#kube.mergePatch(
          { apiVersion: "events.k8s.io/v1", kind: "Event", namespace: series.namespace, name: series.name },
          { series: { count, lastObservedTime: now } },
        );
        series.written = count;
        return;
      } catch (err) {
        // Events expire (an hour by default): start a new one.
        if (!isNotFound(err)) throw err;
        series.name = eventName(event.regarding.name);
      }
    }
    await this.#kube.create<EventObject>({
      ...event,
      metadata: { name: series.name, namespace: series.namespace },
      eventTime: now,
      ...(series.written > 0 || count > 1 ? { series: { count, lastObservedTime: now } } : {}),
    });
    series.written = count;
  }
}

/** Unique, and starting with the object's name, as kubectl and client-go name events. */
function eventName(objectName: string): string {
  return `${objectName.slice(0, 200)}.${Date.now().toString(16)}${randomBytes(4).toString("hex")}`;
}

function truncate(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let cut = text.slice(0, bytes - 3);
  while (Buffer.byteLength(cut) > bytes - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}
