/**
 * The slices of built-in Kubernetes kinds that Ferry reads or writes, declared here (not taken
 * from @kubernetes/client-node's models) so that desired-state builders stay plain data.
 */
import type { KubeObject } from "./kube.ts";

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  immutable?: boolean;
}

export interface ServiceAccount extends KubeObject {
  automountServiceAccountToken?: boolean;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface Role extends KubeObject {
  rules: PolicyRule[];
}

export interface RoleBinding extends KubeObject {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string; apiGroup?: string }[];
}

export interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface EnvVarSource {
  fieldRef?: { fieldPath: string };
  secretKeyRef?: { name: string; key: string; optional?: boolean };
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: EnvVarSource }[];
  ports?: ContainerPort[];
  resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: object;
  livenessProbe?: object;
  securityContext?: object;
}

export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: Volume[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: object[];
  securityContext?: object;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  subdomain?: string;
}

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

export interface Pod extends KubeObject {
  spec: PodSpec;
  status?: {
    phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
    conditions?: PodCondition[];
    podIP?: string;
    hostIP?: string;
    startTime?: string;
    containerStatuses?: { name: string; ready: boolean; restartCount: number; image?: string }[];
  };
}

export function podIsReady(pod: Pod | undefined): boolean {
  return Boolean(pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
}
