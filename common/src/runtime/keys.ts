/**
 * Work-queue keys: `namespace/name`, or `name` for cluster-scoped objects (the same key client-go
 * uses, so logs read the same).
 */
import type { KubeObject } from "../kube.ts";

export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** `toKeys` for a controller of the watched kind itself. */
export function selfKey(object: KubeObject): string[] {
  return [objectKey(object)];
}

/**
 * `toKeys` mapping an object to its owners of one kind (a Pod to the GatewayNode that owns it).
 * Owner references are namespace-local, so the owner's key uses the object's namespace.
 */
export function ownerKeys(ownerKind: string, ownerApiVersion?: string): (object: KubeObject) => string[] {
  return (object) =>
    (object.metadata.ownerReferences ?? [])
      .filter((o) => o.kind === ownerKind && (!ownerApiVersion || o.apiVersion === ownerApiVersion))
      .map((o) => (object.metadata.namespace ? `${object.metadata.namespace}/${o.name}` : o.name));
}
