/**
 * The Node object of a process node and its heartbeat, as kubelet keeps them: the Node is
 * registered (labels, taints, capacity, addresses, nodeInfo), its Lease in kube-node-lease is
 * renewed every `renewMs`, and its conditions (Ready = KubeletReady) are re-posted every
 * `statusMs`. The node-lifecycle controller watches the Lease: a runtime that stops renewing it is
 * a node that went away (NotReady after leaseDurationSeconds, then taints and evictions).
 */
import { cpus, hostname as osHostname, release, totalmem } from "node:os";
import type { Kube, KubeObject } from "@ferry/common/kube";
import type { RawApi } from "./api.ts";
import type { PodCondition } from "./types.ts";

export interface Taint {
  key: string;
  value?: string;
  effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

export interface NodeOptions {
  kube: Kube;
  api: RawApi;
  nodeName: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  leaseDurationSeconds?: number;
  renewMs?: number;
  statusMs?: number;
  log: (message: string) => void;
}

export const PROCESS_NODE_LABEL = "ferry.dev/process-node";
const FIELD_MANAGER = "ferry-process-node";
const LEASE_NAMESPACE = "kube-node-lease";

/** A metav1.MicroTime. */
const microTime = (date = new Date()) => date.toISOString().replace(/Z$/, "000Z");
const time = (date = new Date()) => date.toISOString().replace(/\.\d+Z$/, "Z");

interface NodeObject extends KubeObject {
  spec?: { taints?: Taint[] };
  status?: { conditions?: (PodCondition & { lastHeartbeatTime?: string })[] };
}

export function nodeLabels(nodeName: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "kubernetes.io/hostname": nodeName,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": process.arch === "x64" ? "amd64" : process.arch,
    [PROCESS_NODE_LABEL]: "true",
    ...extra,
  };
}

export class NodeAgent {
  readonly #o: NodeOptions;
  readonly #leaseSeconds: number;
  #uid: string | undefined;
  #version = "v0.0.0";
  #ready = false;
  #readySince = time();
  #timers: NodeJS.Timeout[] = [];

  constructor(options: NodeOptions) {
    this.#o = options;
    this.#leaseSeconds = options.leaseDurationSeconds ?? 40;
  }

  get #ref() {
    return { apiVersion: "v1", kind: "Node", name: this.#o.nodeName };
  }

  async register(): Promise<void> {
    const { kube, api, nodeName } = this.#o;
    this.#version =
      (
        await api
          .request<{ gitVersion?: string }>("GET", "/version")
          .catch(() => ({}) as { gitVersion?: string })
      ).gitVersion ?? this.#version;
    const node = await kube.apply<NodeObject>(
      {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: nodeName,
          labels: nodeLabels(nodeName, this.#o.labels),
          annotations: { "node.alpha.kubernetes.io/ttl": "0" },
        },
        ...(this.#o.taints?.length ? { spec: { taints: this.#o.taints } } : {}),
      },
      FIELD_MANAGER,
    );
    this.#uid = node.metadata.uid;
    const previous = node.status?.conditions?.find((c) => c.type === "Ready");
    if (previous?.status === "True" && previous.lastTransitionTime)
      this.#readySince = previous.lastTransitionTime;
    await this.#postStatus(true);
    await this.#renew();
    const renewMs = this.#o.renewMs ?? 10_000;
    const statusMs = this.#o.statusMs ?? 60_000;
    this.#timers.push(
      setInterval(
        () => this.#renew().catch((err: Error) => this.#o.log(`lease renewal failed: ${err.message}`)),
        renewMs,
      ),
      setInterval(
        () => this.#postStatus(true).catch((err: Error) => this.#o.log(`node status failed: ${err.message}`)),
        statusMs,
      ),
    );
  }

  async #renew(): Promise<void> {
    const { kube, nodeName } = this.#o;
    await kube.apply(
      {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: {
          name: nodeName,
          namespace: LEASE_NAMESPACE,
          ...(this.#uid
            ? { ownerReferences: [{ apiVersion: "v1", kind: "Node", name: nodeName, uid: this.#uid }] }
            : {}),
        },
        spec: { holderIdentity: nodeName, leaseDurationSeconds: this.#leaseSeconds, renewTime: microTime() },
      } as KubeObject,
      FIELD_MANAGER,
    );
  }

  async #postStatus(ready: boolean, message?: string): Promise<void> {
    const now = time();
    if (ready !== this.#ready) this.#readySince = now;
    this.#ready = ready;
    const condition = (
      type: string,
      status: string,
      reason: string,
      text: string,
      since = this.#readySince,
    ) => ({
      type,
      status,
      reason,
      message: text,
      lastHeartbeatTime: now,
      lastTransitionTime: since,
    });
    const cores = String(cpus().length);
    const memory = `${Math.floor(totalmem() / 1024)}Ki`;
    const resources = { cpu: cores, memory, pods: "110", "ephemeral-storage": "100Gi" };
    await this.#o.kube.mergePatch(
      this.#ref,
      {
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [
            condition(
              "MemoryPressure",
              "False",
              "KubeletHasSufficientMemory",
              "kubelet has sufficient memory available",
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition(
              "PIDPressure",
              "False",
              "KubeletHasSufficientPID",
              "kubelet has sufficient PID available",
            ),
            ready
              ? condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
              : condition("Ready", "False", "KubeletNotReady", message ?? "the process node stopped"),
          ],
          addresses: [
            { type: "InternalIP", address: "127.0.0.1" },
            { type: "Hostname", address: this.#o.nodeName },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
          nodeInfo: {
            machineID: this.#o.nodeName,
            systemUUID: this.#o.nodeName,
            bootID: `${osHostname()}-${process.pid}`,
            kernelVersion: release(),
            osImage: "Ferry process runtime (hack/src/kubelet)",
            containerRuntimeVersion: "process://1",
            kubeletVersion: this.#version,
            kubeProxyVersion: "",
            operatingSystem: "linux",
            architecture: process.arch === "x64" ? "amd64" : process.arch,
          },
        },
      },
      "status",
    );
  }

  /**
   * `NotReady`: a clean stop, posted at once; `delete`: the Node (and its Lease) is removed, and
   * the pod GC removes the pods bound to it; `leave`: nothing is written, as when a kubelet dies
   * (the Lease expires and the node-lifecycle controller takes over).
   */
  async stop(mode: "NotReady" | "delete" | "leave"): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    const { kube, nodeName } = this.#o;
    if (mode === "NotReady") await this.#postStatus(false);
    if (mode === "delete") {
      await kube.delete({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace: LEASE_NAMESPACE,
        name: nodeName,
      });
      await kube.delete(this.#ref);
    }
  }
}
