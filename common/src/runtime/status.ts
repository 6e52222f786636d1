/**
 * The one way Ferry writes status (docs/style.md, rule 3): server-side apply on the `status`
 * subresource, each writer with its own field manager, so that writers owning different fields
 * (docs/architecture.md, "Status ownership") never clobber each other, and a write only when the
 * fields this writer owns would change.
 *
 * `applyStatus` writes a status computed elsewhere. `StatusWriter` is the full loop a reconciler
 * uses: re-read the object, compute the status with a pure function of it, stamp
 * `observedGeneration`, write only on change, and on a conflict (the object changed between read
 * and write) read again from the API server and recompute.
 */
import { isConflict, type Kube, KubeError, type KubeObject, type ObjectRef } from "../kube.ts";
import type { Condition } from "./conditions.ts";
import { type ManagedFieldsEntry, statusApplyIsNoop } from "./managed-fields.ts";
import { metaTime } from "./time.ts";

export { findCondition, isConditionTrue, setCondition } from "./conditions.ts";

export interface StatusObject extends KubeObject {
  status?: object;
}

export interface ApplyStatusOptions<T extends StatusObject> {
  /** The object as last read (e.g. from an informer's cache); read from the API server when absent. */
  current?: T;
  /**
   * Send `current`'s resourceVersion as a precondition: the write fails with a 409 conflict if the
   * object changed since it was read (for a status computed from what was read).
   */
  precondition?: boolean;
  /** The clock, for conditions that arrive without a transition time. */
  now?: Date;
}

export interface StatusWrite<T> {
  /** False when nothing would have changed and no request was made. */
  written: boolean;
  /** The object after the write, or as read when nothing was written. */
  object: T;
}

/**
 * Applies `status` (the fields `fieldManager` owns, all of them: fields it owned before and leaves
 * out are removed) to the status subresource of `ref`, unless that would change nothing. Condition
 * transition times are taken from the stored conditions whose status did not flip, so callers may
 * build conditions afresh. The apply is forced (a controller owns its fields; a conflict with
 * another manager would be a bug in the ownership table, not a race), so without `precondition` it
 * never conflicts.
 */
export async function applyStatus<T extends StatusObject>(
  kube: Kube,
  ref: ObjectRef,
  fieldManager: string,
  status: object,
  options: ApplyStatusOptions<T> = {},
): Promise<StatusWrite<T>> {
  const current = options.current ?? (await kube.get<T>(ref));
  if (!current) {
    throw new KubeError(404, "NotFound", `${ref.kind} ${ref.namespace ?? ""}/${ref.name} not found`, []);
  }
  const desired = keepTransitionTimes(status, current.status, options.now ?? new Date());
  const stored = current as T & { metadata: { managedFields?: ManagedFieldsEntry[] } };
  if (statusApplyIsNoop(stored, fieldManager, desired)) return { written: false, object: current };
  const resourceVersion = options.precondition ? current.metadata.resourceVersion : undefined;
  const object = await kube.apply<T>(
    {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: {
        name: ref.name,
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      status: desired,
    } as T,
    fieldManager,
    true,
    "status",
  );
  return { written: true, object };
}

/** Copies stored transition times onto desired conditions whose status is unchanged. */
function keepTransitionTimes(status: object, stored: object | undefined, now: Date): object {
  const conditions = (status as { conditions?: Partial<Condition>[] }).conditions;
  if (!Array.isArray(conditions)) return status;
  const before = (stored as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  return {
    ...status,
    conditions: conditions.map((c) => {
      const previous = before.find((p) => p.type === c.type);
      if (previous && previous.status === c.status)
        return { ...c, lastTransitionTime: previous.lastTransitionTime };
      return { ...c, lastTransitionTime: c.lastTransitionTime ?? metaTime(now) };
    }),
  };
}

export interface StatusWriterOptions<T extends StatusObject> {
  /** Reads the cached object (an informer's store): the first attempt costs no request. */
  read?: (ref: ObjectRef) => T | undefined;
  /**
   * Stamp `status.observedGeneration`, and the `observedGeneration` of conditions that have none,
   * with the generation the status was computed from. Default true; off for a writer that does not
   * own `observedGeneration` (e.g. the agent's half of a GatewayNode status).
   */
  observedGeneration?: boolean;
  /** Attempts before a conflict is thrown to the caller (who retries with backoff). Default 5. */
  attempts?: number;
  /** The clock; injected in tests. */
  now?: () => Date;
}

/**
 * A status writer for one field manager. `update(ref, compute)` computes the status from the
 * current object with the pure `compute` and writes it only when it changes what is stored.
 */
export class StatusWriter<T extends StatusObject, S extends object = NonNullable<T["status"]>> {
  readonly #kube: Kube;
  readonly #fieldManager: string;
  readonly #options: StatusWriterOptions<T>;

  constructor(kube: Kube, fieldManager: string, options: StatusWriterOptions<T> = {}) {
    this.#kube = kube;
    this.#fieldManager = fieldManager;
    this.#options = options;
  }

  /**
   * `compute` gets the object as read and returns every status field this writer owns (or
   * undefined: leave the status alone). It may run more than once (after a conflict), so it must
   * be pure. Resolves to undefined when the object does not exist (any more).
   */
  async update(ref: ObjectRef, compute: (current: T) => S | undefined): Promise<StatusWrite<T> | undefined> {
    const attempts = this.#options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      // The cache may lag; after a conflict only the API server's copy will do.
      const current =
        (attempt === 1 ? this.#options.read?.(ref) : undefined) ?? (await this.#kube.get<T>(ref));
      if (!current) return undefined;
      const computed = compute(current);
      if (computed === undefined) return { written: false, object: current };
      const status = this.#stamp(computed, current.metadata.generation);
      try {
        return await applyStatus<T>(this.#kube, ref, this.#fieldManager, status, {
          current,
          precondition: true,
          now: this.#options.now?.() ?? new Date(),
        });
      } catch (err) {
        if (!isConflict(err) || attempt >= attempts) throw err;
      }
    }
  }

  #stamp(status: S, generation: number | undefined): object {
    if (this.#options.observedGeneration === false || generation === undefined) return status;
    const conditions = (status as { conditions?: Condition[] }).conditions;
    return {
      ...status,
      observedGeneration: generation,
      ...(Array.isArray(conditions)
        ? {
            conditions: conditions.map((c) => ({
              ...c,
              observedGeneration: c.observedGeneration ?? generation,
            })),
          }
        : {}),
    };
  }
}
