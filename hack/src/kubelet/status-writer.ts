/**
 * Writes a pod's status: a JSON merge patch of the pods/status subresource carrying only the
 * fields that changed, skipped when none did, guarded by the resourceVersion the status was
 * computed from (a conflict means "re-read and compute again", never "overwrite").
 */
import { isConflict, isNotFound, type Kube } from "@ferry/common/kube";
import { statusPatch } from "./status.ts";
import type { Pod, PodStatus } from "./types.ts";

export type WriteResult =
  | { kind: "unchanged" }
  | { kind: "written"; pod: Pod }
  | { kind: "conflict"; pod: Pod | undefined }
  | { kind: "gone" };

export async function writePodStatus(kube: Kube, pod: Pod, desired: PodStatus): Promise<WriteResult> {
  const patch = statusPatch(pod.status, desired);
  if (!patch) return { kind: "unchanged" };
  const ref = { apiVersion: "v1", kind: "Pod", namespace: pod.metadata.namespace!, name: pod.metadata.name };
  try {
    const written = await kube.mergePatch<Pod>(
      ref,
      { metadata: { resourceVersion: pod.metadata.resourceVersion, uid: pod.metadata.uid }, status: patch },
      "status",
    );
    return { kind: "written", pod: written };
  } catch (err) {
    if (isNotFound(err)) return { kind: "gone" };
    if (isConflict(err)) {
      const fresh = await kube.get<Pod>(ref);
      return fresh && fresh.metadata.uid === pod.metadata.uid
        ? { kind: "conflict", pod: fresh }
        : { kind: "gone" };
    }
    throw err;
  }
}

/** Resource versions are opaque, but etcd's are numbers: a stale watch event must not win. */
export function newer(candidate: Pod, current: Pod | undefined): boolean {
  if (!current) return true;
  const a = Number(candidate.metadata.resourceVersion);
  const b = Number(current.metadata.resourceVersion);
  return Number.isNaN(a) || Number.isNaN(b) || a >= b;
}
