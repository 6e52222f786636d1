import type { KubeObject, OwnerReference } from "@ferry/common";

/** The controller owner reference that makes `owner`'s deletion garbage-collect the object. */
export function controllerRef(owner: KubeObject): OwnerReference {
  if (!owner.metadata.uid) throw new Error(`${owner.kind}/${owner.metadata.name} has no uid yet`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
