/**
 * The two calls a kubelet makes that the shared Kube interface has no method for: creating a
 * subresource (TokenRequest on `serviceaccounts/<sa>/token`) and deleting with delete options
 * (the final `gracePeriodSeconds: 0` delete, guarded by the pod's uid). Credentials come from
 * kube.ts's own kubeconfig loader, so @kubernetes/client-node is still imported only there.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import { KubeError, loadKubeConfig } from "@ferry/common/kube";

export interface RawApi {
  readonly server: string;
  /** The API server's CA (PEM), from the kubeconfig. */
  readonly caPem: string | undefined;
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function rawApi(kubeconfig: string): RawApi {
  const kc = loadKubeConfig(kubeconfig);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${kubeconfig}: no current cluster`);
  const server = cluster.server.replace(/\/+$/, "");
  const caPem = cluster.caData
    ? Buffer.from(cluster.caData, "base64").toString("utf8")
    : cluster.caFile
      ? readFileSync(cluster.caFile, "utf8")
      : undefined;
  return {
    server,
    caPem,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const options: https.RequestOptions = { method, headers: { Accept: "application/json" } };
      await kc.applyToHTTPSOptions(options);
      const payload = body === undefined ? undefined : JSON.stringify(body);
      if (payload !== undefined) {
        options.headers = {
          ...options.headers,
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(payload),
        };
      }
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = https.request(new URL(server + path), options, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(payload);
      });
      if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
      let parsed: { reason?: string; message?: string } = {};
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { message: text };
      }
      throw new KubeError(status, parsed.reason ?? "Unknown", parsed.message ?? `HTTP ${status}`, []);
    },
  };
}

export interface BoundToken {
  token: string;
  /** When the API server stops accepting it. */
  expiresAt: number;
}

interface TokenRequestStatus {
  status: { token: string; expirationTimestamp: string };
}

/** A token of `serviceAccount` bound to the pod: it dies with the pod, as kubelet's tokens do. */
export async function requestToken(
  api: RawApi,
  pod: { namespace: string; name: string; uid: string },
  serviceAccount: string,
  options: { audience?: string; expirationSeconds: number },
): Promise<BoundToken> {
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
  const response = await api.request<TokenRequestStatus>("POST", path, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: {
      ...(options.audience ? { audiences: [options.audience] } : {}),
      expirationSeconds: options.expirationSeconds,
      boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid },
    },
  });
  return { token: response.status.token, expiresAt: Date.parse(response.status.expirationTimestamp) };
}

/**
 * Kubelet's last word on a pod: removes the object once its processes are gone. The uid
 * precondition keeps a new pod of the same name safe; a pod already gone is not an error.
 */
export async function finalDelete(
  api: RawApi,
  pod: { namespace: string; name: string; uid: string },
): Promise<boolean> {
  try {
    await api.request(
      "DELETE",
      `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`,
      { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0, preconditions: { uid: pod.uid } },
    );
    return true;
  } catch (err) {
    if (err instanceof KubeError && (err.code === 404 || err.code === 409)) return false;
    throw err;
  }
}
