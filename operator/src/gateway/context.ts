/**
 * What a gateway reconcile works with: the gateway as read at the start, the caches it reads
 * from, the client it writes with, and what earlier steps found out for later ones (the public
 * key, the node list). Steps are plain functions of this context; none keeps state of its own.
 */
import type { Kube, KubeObject, Lease, Pod, Role, RoleBinding, Secret, ServiceAccount } from "@ferry/common";
import type { Condition, CopyJob, DataStore, GatewayNode, LogicalGateway } from "@ferry/crds";
import type { Logger } from "pino";
import type { PodContext } from "../model/pod.ts";

/** A read-only view of an informer's cache. */
export interface Cache<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
}

export interface Events {
  event(object: KubeObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
}

export interface OperatorConfig extends PodContext {
  /** The API server URL external agents use (defaults to the operator's own). */
  registrationServer: string;
  /** How long the autoscaler waits with no pending job before removing a drained node. */
  scaleInQuietPeriodMs: number;
  /** How long a replaced node may take to come Online before its update is rolled back. */
  rolloutReadyTimeoutMs: number;
  /** External nodes offline longer than this are removed. */
  externalNodeOfflineMs: number;
  /** Validity of node certificates the operator issues (Managed TLS). */
  nodeCertificateDays: number;
  caDays: number;
  /** Least time between two changes of a node's concurrency by autotune. */
  autotuneCooldownMs: number;
  /** How long a CA rotation waits for new trust or certificates to reach every agent. */
  caPropagationMs: number;
}

export interface Caches {
  gateways: Cache<LogicalGateway>;
  nodes: Cache<GatewayNode>;
  jobs: Cache<CopyJob>;
  dataStores: Cache<DataStore>;
  secrets: Cache<Secret>;
  leases: Cache<Lease>;
  pods: Cache<Pod>;
  serviceAccounts: Cache<ServiceAccount>;
  roles: Cache<Role>;
  roleBindings: Cache<RoleBinding>;
}

/** What a step tells the reconcile: go on, or stop here and come back later. */
export type StepOutcome = undefined | { requeueAfterMs: number; reason: string };

export interface GatewayContext {
  gw: LogicalGateway;
  kube: Kube;
  caches: Caches;
  events: Events;
  log: Logger;
  config: OperatorConfig;
  now: Date;
  /** Conditions the steps report, written by the status step at the end. */
  conditions: Omit<Condition, "lastTransitionTime">[];
  publicKey?: string;
}

export function report(
  ctx: GatewayContext,
  type: string,
  ok: boolean,
  reason: string,
  message: string,
): void {
  ctx.conditions = ctx.conditions.filter((c) => c.type !== type);
  ctx.conditions.push({
    type,
    status: ok ? "True" : "False",
    reason,
    message,
    observedGeneration: ctx.gw.metadata.generation ?? 0,
  });
}

export const FIELD_MANAGER = "ferry-operator/gateway";

export const decode = (b64: string | undefined) =>
  b64 ? Buffer.from(b64, "base64").toString("utf8") : undefined;

export function gatewayNodes(ctx: GatewayContext): GatewayNode[] {
  return ctx.caches.nodes
    .list(ctx.gw.metadata.namespace)
    .filter((n) => n.spec.gatewayRef.name === ctx.gw.metadata.name)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}
