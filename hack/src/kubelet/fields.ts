/**
 * The downward API: the pod fields a process may read through `fieldRef`, in its environment or
 * as files. The same paths kubelet accepts; an unknown one is a spec error.
 */
import { ConfigError } from "./lookup.ts";
import { POD_IP, type Pod } from "./types.ts";

function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map?.[k] ?? "")}`)
    .join("\n");
}

export function fieldValue(pod: Pod, fieldPath: string, { asFile = false } = {}): string {
  const subscript = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (subscript) {
    const map = subscript[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[subscript[2]!] ?? "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace ?? "";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "";
    case "status.podIP":
    case "status.podIPs":
    case "status.hostIP":
    case "status.hostIPs":
      return POD_IP;
  }
  if (asFile && fieldPath === "metadata.labels") return formatMap(pod.metadata.labels);
  if (asFile && fieldPath === "metadata.annotations") return formatMap(pod.metadata.annotations);
  throw new ConfigError(`unsupported fieldRef ${JSON.stringify(fieldPath)}`);
}
