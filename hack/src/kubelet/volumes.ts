/**
 * A pod's volumes, rendered on the host. Secret, ConfigMap, downward API and projected volumes
 * become a payload of files (written by the atomic writer into the pod's private folder, and
 * rendered again on every volume sync so changes reach the process); emptyDir is a folder of the
 * pod; hostPath is the host's own path. Other volume types fail the pod's start with a message.
 */
import type { Payload } from "./atomic-writer.ts";
import { fieldValue } from "./fields.ts";
import { ConfigError, configMapData, type ObjectLookup, secretData } from "./lookup.ts";
import type { TokenManager } from "./tokens.ts";
import { type KeyToPath, type Pod, SERVICE_ACCOUNT_MOUNT, type Volume } from "./types.ts";

export type RenderedVolume =
  | { kind: "files"; payload: Payload }
  | { kind: "emptyDir" }
  | { kind: "hostPath"; path: string; type?: string };

export interface VolumeContext {
  pod: Pod;
  lookup: ObjectLookup;
  tokens: TokenManager;
  /** The cluster CA, for the automatic ServiceAccount volume. */
  clusterCaPem: string | undefined;
}

const DEFAULT_MODE = 0o644;

function addKeys(
  payload: Payload,
  data: Record<string, Buffer>,
  items: KeyToPath[] | undefined,
  mode: number,
  what: string,
  optional: boolean | undefined,
): void {
  if (!items) {
    for (const [key, value] of Object.entries(data)) payload.set(key, { data: value, mode });
    return;
  }
  for (const item of items) {
    const value = data[item.key];
    if (value === undefined) {
      if (optional) continue;
      throw new ConfigError(`couldn't find key ${item.key} in ${what}`);
    }
    payload.set(item.path, { data: value, mode: item.mode ?? mode });
  }
}

async function addSecret(
  payload: Payload,
  ctx: VolumeContext,
  source: { name: string; items?: KeyToPath[]; optional?: boolean },
  mode: number,
): Promise<void> {
  const secret = await ctx.lookup.secret(source.name);
  if (!secret) {
    if (source.optional) return;
    throw new ConfigError(`secret "${source.name}" not found`);
  }
  addKeys(payload, secretData(secret), source.items, mode, `Secret ${source.name}`, source.optional);
}

async function addConfigMap(
  payload: Payload,
  ctx: VolumeContext,
  source: { name: string; items?: KeyToPath[]; optional?: boolean },
  mode: number,
): Promise<void> {
  const cm = await ctx.lookup.configMap(source.name);
  if (!cm) {
    if (source.optional) return;
    throw new ConfigError(`configmap "${source.name}" not found`);
  }
  addKeys(payload, configMapData(cm), source.items, mode, `ConfigMap ${source.name}`, source.optional);
}

function addDownward(
  payload: Payload,
  pod: Pod,
  items: { path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: unknown; mode?: number }[],
  mode: number,
): void {
  for (const item of items) {
    if (!item.fieldRef) {
      throw new ConfigError(`downwardAPI ${item.path}: only fieldRef is supported by the process runtime`);
    }
    const value = fieldValue(pod, item.fieldRef.fieldPath, { asFile: true });
    payload.set(item.path, { data: Buffer.from(value), mode: item.mode ?? mode });
  }
}

function podRef(pod: Pod) {
  return {
    namespace: pod.metadata.namespace ?? "default",
    name: pod.metadata.name,
    uid: pod.metadata.uid ?? "",
  };
}

function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName || "default";
}

export async function renderVolume(volume: Volume, ctx: VolumeContext): Promise<RenderedVolume> {
  if (volume.emptyDir) return { kind: "emptyDir" };
  if (volume.hostPath) {
    return {
      kind: "hostPath",
      path: volume.hostPath.path,
      ...(volume.hostPath.type ? { type: volume.hostPath.type } : {}),
    };
  }
  const payload: Payload = new Map();
  if (volume.secret) {
    const { secretName, items, defaultMode, optional } = volume.secret;
    await addSecret(
      payload,
      ctx,
      { name: secretName, ...(items ? { items } : {}), ...(optional ? { optional } : {}) },
      defaultMode ?? DEFAULT_MODE,
    );
  } else if (volume.configMap) {
    await addConfigMap(payload, ctx, volume.configMap, volume.configMap.defaultMode ?? DEFAULT_MODE);
  } else if (volume.downwardAPI) {
    addDownward(
      payload,
      ctx.pod,
      volume.downwardAPI.items ?? [],
      volume.downwardAPI.defaultMode ?? DEFAULT_MODE,
    );
  } else if (volume.projected) {
    const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
    for (const source of volume.projected.sources ?? []) {
      if (source.secret) await addSecret(payload, ctx, source.secret, mode);
      if (source.configMap) await addConfigMap(payload, ctx, source.configMap, mode);
      if (source.downwardAPI) addDownward(payload, ctx.pod, source.downwardAPI.items ?? [], mode);
      if (source.serviceAccountToken) {
        const { path, audience, expirationSeconds } = source.serviceAccountToken;
        const token = await ctx.tokens.token(podRef(ctx.pod), serviceAccountOf(ctx.pod), {
          ...(audience ? { audience } : {}),
          ...(expirationSeconds ? { expirationSeconds } : {}),
        });
        payload.set(path, { data: Buffer.from(token), mode });
      }
    }
  } else {
    const type = Object.keys(volume).find((k) => k !== "name") ?? "unknown";
    throw new ConfigError(`volume "${volume.name}": type ${type} is not supported by the process runtime`);
  }
  return { kind: "files", payload };
}

/**
 * The ServiceAccount volume kubelet mounts when the API server's admission did not add one (it
 * normally injects a `kube-api-access-*` projected volume, rendered by `renderVolume`): the
 * same three files, token, ca.crt and namespace.
 */
export const AUTOMATIC_SA_VOLUME = "kube-api-access-process-node";

export function needsAutomaticServiceAccount(pod: Pod): boolean {
  if (pod.spec.automountServiceAccountToken === false) return false;
  return !pod.spec.containers.some((c) => c.volumeMounts?.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT));
}

export async function renderAutomaticServiceAccount(ctx: VolumeContext): Promise<RenderedVolume> {
  const token = await ctx.tokens.token(podRef(ctx.pod), serviceAccountOf(ctx.pod), {
    expirationSeconds: 3607,
  });
  const payload: Payload = new Map([
    ["token", { data: Buffer.from(token), mode: DEFAULT_MODE }],
    ["namespace", { data: Buffer.from(ctx.pod.metadata.namespace ?? "default"), mode: DEFAULT_MODE }],
  ]);
  if (ctx.clusterCaPem) payload.set("ca.crt", { data: Buffer.from(ctx.clusterCaPem), mode: DEFAULT_MODE });
  return { kind: "files", payload };
}
