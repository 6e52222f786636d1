/**
 * For informer transforms (InformerSpec.transform) that keep only what a cache's readers use: the
 * metadata an informer and a status write need, without managedFields, annotations and owner
 * references, which are most of a small object's size.
 */
import type { KubeObject } from "../kube.ts";

export function slimMetadata(meta: KubeObject["metadata"]): KubeObject["metadata"] {
  const { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, labels } =
    meta;
  return { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, labels };
}
