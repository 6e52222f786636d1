/**
 * Wires the controllers to the shared informers: which kinds each watches and how a change of
 * one object maps to the keys to reconcile. No decisions here; those are in the controllers and
 * the policies.
 */
import type { Kube, KubeObject, Lease, Pod, Role, RoleBinding, Secret, ServiceAccount } from "@ferry/common";
import type { Metrics } from "@ferry/common/runtime";
import { Manager, type WatchSpec } from "@ferry/common/runtime";
import type { CopyJob, DataStore, GatewayNode, LogicalGateway } from "@ferry/crds";
import type { Logger } from "pino";
import type { Caches, Events, OperatorConfig } from "./gateway/context.ts";
import { gatewayController } from "./gateway/controller.ts";
import { countedJob } from "./gateway/nodes-step.ts";
import { JOB_COUNTS_INTERVAL_MS } from "./gateway/status-step.ts";
import { LABEL_GATEWAY, LABEL_NODE, nodeLeaseName } from "./model/names.ts";
import { nodeController } from "./node/controller.ts";

const FERRY = "ferry.dev/v1alpha1";
const RBAC = "rbac.authorization.k8s.io/v1";
/** Only what Ferry made: the operator never caches every Secret, Pod or Lease of the cluster. */
const OURS = "app.kubernetes.io/part-of=ferry";

export interface OperatorOptions {
  kube: Kube;
  log: Logger;
  metrics: Metrics;
  events: Events;
  config: OperatorConfig;
  namespace?: string;
  resyncMs?: number;
  clock?: () => Date;
}

const key = (namespace: string | undefined, name: string | undefined) =>
  name ? [`${namespace}/${name}`] : [];

export function buildOperator(options: OperatorOptions): Manager {
  const { kube, log, metrics } = options;
  const clock = options.clock ?? (() => new Date());
  const manager = new Manager({
    kube,
    log,
    metrics,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
  });
  const caches: Caches = {
    gateways: manager.informer<LogicalGateway>(FERRY, "LogicalGateway").store,
    nodes: manager.informer<GatewayNode>(FERRY, "GatewayNode").store,
    jobs: manager.informer<CopyJob>(FERRY, "CopyJob", { transform: countedJob }).store,
    dataStores: manager.informer<DataStore>(FERRY, "DataStore").store,
    secrets: manager.informer<Secret>("v1", "Secret", { labelSelector: OURS }).store,
    leases: manager.informer<Lease>("coordination.k8s.io/v1", "Lease", { labelSelector: OURS }).store,
    pods: manager.informer<Pod>("v1", "Pod", { labelSelector: OURS }).store,
    serviceAccounts: manager.informer<ServiceAccount>("v1", "ServiceAccount", { labelSelector: OURS }).store,
    roles: manager.informer<Role>(RBAC, "Role", { labelSelector: OURS }).store,
    roleBindings: manager.informer<RoleBinding>(RBAC, "RoleBinding", { labelSelector: OURS }).store,
  };

  const self = (o: KubeObject) => key(o.metadata.namespace, o.metadata.name);
  const toGateway = (o: KubeObject) => {
    const spec = (o as { spec?: { gatewayRef?: { name?: string } } }).spec;
    return key(o.metadata.namespace, spec?.gatewayRef?.name ?? o.metadata.labels?.[LABEL_GATEWAY]);
  };
  const gatewayWatches: WatchSpec[] = [
    { apiVersion: FERRY, kind: "LogicalGateway", toKeys: self },
    { apiVersion: FERRY, kind: "GatewayNode", toKeys: toGateway },
    // Job counts are written at most once per interval anyway (status-step.ts); the autoscaler
    // and autotuner read the cache when they run, so a second's delay loses them nothing.
    { apiVersion: FERRY, kind: "CopyJob", toKeys: toGateway, delayMs: JOB_COUNTS_INTERVAL_MS },
    { apiVersion: FERRY, kind: "DataStore", toKeys: toGateway },
    { apiVersion: "v1", kind: "Secret", labelSelector: OURS, toKeys: toGateway },
    { apiVersion: "coordination.k8s.io/v1", kind: "Lease", labelSelector: OURS, toKeys: toGateway },
    // The agents' identity: a change by someone else, or a deletion, is put back at once.
    { apiVersion: "v1", kind: "ServiceAccount", labelSelector: OURS, toKeys: toGateway },
    { apiVersion: RBAC, kind: "Role", labelSelector: OURS, toKeys: toGateway },
    { apiVersion: RBAC, kind: "RoleBinding", labelSelector: OURS, toKeys: toGateway },
  ];
  const nodesOf = (gw: KubeObject) =>
    caches.nodes
      .list(gw.metadata.namespace)
      .filter((n) => n.spec.gatewayRef.name === gw.metadata.name)
      .flatMap((n) => key(n.metadata.namespace, n.metadata.name));
  const nodeOfLease = (o: KubeObject) => {
    const node = o.metadata.labels?.[LABEL_NODE];
    return node && o.metadata.name === nodeLeaseName(node) ? key(o.metadata.namespace, node) : [];
  };
  const nodeWatches: WatchSpec[] = [
    { apiVersion: FERRY, kind: "GatewayNode", toKeys: self },
    { apiVersion: FERRY, kind: "LogicalGateway", toKeys: nodesOf },
    {
      apiVersion: "v1",
      kind: "Pod",
      labelSelector: OURS,
      toKeys: (o) => key(o.metadata.namespace, o.metadata.labels?.[LABEL_NODE]),
    },
    { apiVersion: "coordination.k8s.io/v1", kind: "Lease", labelSelector: OURS, toKeys: nodeOfLease },
  ];

  const gauges = {
    nodes: metrics.gauge("ferry_gateway_nodes", "Nodes of each gateway by state.", [
      "namespace",
      "gateway",
      "state",
    ]),
    jobs: metrics.gauge("ferry_gateway_jobs", "Jobs of each gateway by phase (Pending, Running).", [
      "namespace",
      "gateway",
      "phase",
    ]),
  };
  manager.register({
    ...gatewayController({ kube, caches, events: options.events, config: options.config, clock, gauges }),
    watches: gatewayWatches,
  });
  manager.register({
    ...nodeController({ kube, caches, events: options.events, config: options.config, clock }),
    watches: nodeWatches,
    workers: 2,
  });
  return manager;
}
