/**
 * Server-side apply of a whole object that a controller keeps as it wants it (a Role, a Secret it
 * generates), skipped when the copy in the controller's cache shows it would change nothing.
 * A reconcile that runs for every change of a busy gateway then costs no request for the objects
 * that did not change. The cache must be an informer that keeps `managedFields` and watches the
 * object, so that someone else's change or a deletion brings the object back into a reconcile.
 */
import type { Kube, KubeObject } from "../kube.ts";
import { applyIsNoop, type ManagedFieldsEntry } from "./managed-fields.ts";

export interface ApplyWrite<T> {
  /** False when the cached copy already was what the apply would make, and no request was made. */
  written: boolean;
  object: T;
}

export async function applyUnlessUnchanged<T extends KubeObject>(
  kube: Kube,
  desired: T,
  fieldManager: string,
  cached: T | undefined,
): Promise<ApplyWrite<T>> {
  const stored = cached as (T & { metadata: { managedFields?: ManagedFieldsEntry[] } }) | undefined;
  if (stored && applyIsNoop(stored, fieldManager, desired as T & { metadata: Record<string, unknown> }))
    return { written: false, object: stored };
  return { written: true, object: await kube.apply(desired, fieldManager) };
}
