/**
 * The parts of metav1.ObjectMeta and ListMeta that Ferry code reads or writes. Declared here rather
 * than imported from @kubernetes/client-node so that this package stays free of the client (only
 * one module imports it). `name` is required, as in @ferry/common's KubeObject, so Ferry objects
 * can be handed to it as they are; every object read back from the server has one.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
}
