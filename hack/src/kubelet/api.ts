/**
 * The two calls a kubelet makes that the typed Kube methods do not cover: creating a subresource
 * (TokenRequest on `serviceaccounts/<sa>/token`) and deleting with delete options (the final
 * `gracePeriodSeconds: 0` delete, guarded by the pod's uid). Both go through the shared client's
 * `request`, so transport, credentials and errors are kube.ts's.
 */
import { connect, type Kube, KubeError } from "@ferry/common/kube";

/** The shared client: `request` for raw paths, `server` and `caPem` for the pods' mounts. */
export type RawApi = Pick<Kube, "server" | "caPem" | "request">;

export function rawApi(kubeconfig: string): RawApi {
  return connect(kubeconfig);
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
