/**
 * Secrets and ConfigMaps as one pod sync sees them: each object is read at most once per sync, so
 * the environment and the volumes of one start agree with each other.
 */
import type { Kube } from "@ferry/common/kube";
import type { ConfigMap, Secret } from "./types.ts";

export interface ObjectLookup {
  secret(name: string): Promise<Secret | undefined>;
  configMap(name: string): Promise<ConfigMap | undefined>;
}

export function lookupIn(kube: Kube, namespace: string): ObjectLookup {
  const cache = new Map<string, Promise<unknown>>();
  const get = <T>(kind: "Secret" | "ConfigMap", name: string) => {
    const key = `${kind}/${name}`;
    let found = cache.get(key);
    if (!found) {
      found = kube.get({ apiVersion: "v1", kind, namespace, name });
      cache.set(key, found);
    }
    return found as Promise<T | undefined>;
  };
  return {
    secret: (name) => get<Secret>("Secret", name),
    configMap: (name) => get<ConfigMap>("ConfigMap", name),
  };
}

/** A failure the pod's spec can fix (a missing Secret, a missing key): reported, then retried. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function secretData(secret: Secret): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

export function configMapData(configMap: ConfigMap): Record<string, Buffer> {
  return {
    ...Object.fromEntries(
      Object.entries(configMap.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]),
    ),
    ...Object.fromEntries(Object.entries(configMap.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "utf8")])),
  };
}
