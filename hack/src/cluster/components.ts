import { join } from "node:path";
import type { Pki } from "./pki.ts";

/** Everything that places one local cluster: its folder, its ports and its PKI. */
export interface ClusterLayout {
  dir: string;
  ports: {
    etcdClient: number;
    etcdPeer: number;
    apiserver: number;
    controllerManager: number;
    scheduler: number;
    kwok: number;
  };
  pki: Pki;
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfig: string;
  serviceCidr: string;
}

export interface HealthCheck {
  url: string;
  /** Present the admin client certificate (the API server refuses anonymous /readyz). */
  asAdmin: boolean;
}

export interface ComponentSpec {
  name: string;
  binary: string;
  args: string[];
  health: HealthCheck;
}

export const SERVICE_CIDR = "10.0.0.0/24";
/** The first address of the service range: the `kubernetes` Service, named in the serving cert. */
export const SERVICE_IP = "10.0.0.1";

const loopback = "127.0.0.1";

export function apiserverUrl(layout: ClusterLayout): string {
  return `https://${loopback}:${layout.ports.apiserver}`;
}

/**
 * The command lines of the control plane, in start order. Pure so that the flags can be read and
 * tested without starting anything.
 */
export function componentSpecs(layout: ClusterLayout): ComponentSpec[] {
  const { dir, ports, pki, kubeconfig } = layout;
  const etcdUrl = `http://${loopback}:${ports.etcdClient}`;
  const peerUrl = `http://${loopback}:${ports.etcdPeer}`;
  return [
    {
      name: "etcd",
      binary: "etcd",
      args: [
        "--name=ferry",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=ferry=${peerUrl}`,
        // A throw-away cluster: durability across a power cut buys nothing, fsync costs seconds.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      health: { url: `${etcdUrl}/health`, asAdmin: false },
    },
    {
      name: "kube-apiserver",
      binary: "kube-apiserver",
      args: [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${loopback}`,
        `--advertise-address=${loopback}`,
        `--secure-port=${ports.apiserver}`,
        `--tls-cert-file=${pki.apiserverCert}`,
        `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--service-account-issuer=https://kubernetes.default.svc`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        `--service-cluster-ip-range=${layout.serviceCidr}`,
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        // The kubernetes Service cannot point at loopback; nothing here reaches the API through it.
        "--endpoint-reconciler-type=none",
        // ConfigMap watches go straight to etcd, so a test can compact etcd and see the 410 Gone
        // that a watch gets after an outage; every other resource keeps the watch cache.
        "--watch-cache-sizes=configmaps#0",
        // Kept so benchmarks and tests can count requests and writes from the server's own record.
        `--audit-log-path=${join(dir, "logs", "audit.log")}`,
        `--audit-policy-file=${join(dir, "audit-policy.yaml")}`,
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
        "--v=1",
      ],
      health: { url: `${apiserverUrl(layout)}/readyz`, asAdmin: true },
    },
    {
      name: "kube-controller-manager",
      binary: "kube-controller-manager",
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        `--bind-address=${loopback}`,
        `--secure-port=${ports.controllerManager}`,
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${layout.serviceCidr}`,
        "--use-service-account-credentials=true",
        // Fake nodes on a shared 2-core machine: tolerate late heartbeats rather than evicting.
        "--node-monitor-grace-period=2m",
        "--leader-elect=false",
        "--controllers=*",
        "--v=1",
      ],
      health: { url: `https://${loopback}:${ports.controllerManager}/healthz`, asAdmin: false },
    },
    {
      name: "kube-scheduler",
      binary: "kube-scheduler",
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        `--bind-address=${loopback}`,
        `--secure-port=${ports.scheduler}`,
        "--leader-elect=false",
        "--v=1",
      ],
      health: { url: `https://${loopback}:${ports.scheduler}/healthz`, asAdmin: false },
    },
    {
      name: "kwok",
      binary: "kwok",
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--server-address=${loopback}:${ports.kwok}`,
        // Only nodes that ask for it: leaves room for a real process runtime on other nodes.
        `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION}=fake`,
        `--cidr=10.244.0.0/16`,
        // Lease heartbeats (renewed every quarter of this) instead of status patches, as kwokctl
        // does: status heartbeats come late on a loaded machine and the node lifecycle controller
        // then marks every pod NotReady.
        "--node-lease-duration-seconds=40",
        `--node-ip=${loopback}`,
      ],
      health: { url: `http://${loopback}:${ports.kwok}/healthz`, asAdmin: false },
    },
  ];
}

export const KWOK_ANNOTATION = "kwok.x-k8s.io/node";

/** Metadata-level audit of writes only: enough to count them, small enough to keep. */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    verbs: ["get", "list", "watch"]
  - level: Metadata
`;

/** A kubeconfig with the credentials inline, so it can be copied anywhere. */
export function kubeconfigYaml(server: string, ca: string, cert: string, key: string): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
  - name: ferry-local
    cluster:
      server: ${server}
      certificate-authority-data: ${b64(ca)}
users:
  - name: ferry-admin
    user:
      client-certificate-data: ${b64(cert)}
      client-key-data: ${b64(key)}
contexts:
  - name: ferry-local
    context:
      cluster: ferry-local
      user: ferry-admin
current-context: ferry-local
`;
}
