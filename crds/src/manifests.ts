import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

/** The parts of a CustomResourceDefinition that callers read without a Kubernetes client. */
export interface CustomResourceDefinitionManifest {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: "Namespaced";
    versions: Record<string, unknown>[];
  };
}

/**
 * The committed CRD manifests (crds/manifests/all.yaml), parsed: what the Helm chart ships and
 * what the operator and the tests install, rather than a fresh rendering of the schema.
 */
export function crdManifests(): CustomResourceDefinitionManifest[] {
  const text = readFileSync(new URL("../manifests/all.yaml", import.meta.url), "utf8");
  return parseAllDocuments(text).map((doc) => doc.toJS() as CustomResourceDefinitionManifest);
}
