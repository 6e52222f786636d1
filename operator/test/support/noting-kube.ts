import type { Kube, KubeObject } from "@ferry/common";

export interface Applied {
  /** Kind/name, with "/status" for an apply of the status subresource. */
  what: string;
  atMs: number;
}

/**
 * The same client, with every server-side apply it sends noted: a test then tells how many
 * writes the operator made through it. Every request still goes to the real API server.
 */
export function notingApplies(kube: Kube): { kube: Kube; applied: Applied[] } {
  const applied: Applied[] = [];
  const noting = new Proxy(kube, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (prop !== "apply") return value.bind(target);
      return (object: KubeObject, ...rest: unknown[]) => {
        const status = rest[2] === "status" ? "/status" : "";
        applied.push({ what: `${object.kind}/${object.metadata.name}${status}`, atMs: Date.now() });
        return (value as (...args: unknown[]) => unknown).call(target, object, ...rest);
      };
    },
  });
  return { kube: noting, applied };
}
