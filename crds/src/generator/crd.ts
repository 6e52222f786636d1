import type { Schema } from "../schema/dialect.ts";
import { CATEGORIES, GROUP, VERSION } from "../schema/index.ts";
import type { KindDefinition } from "../schema/kind.ts";

/** The whole object schema of a kind: what the CRD carries and what the validators compile. */
export function openAPISchema(def: KindDefinition): Schema {
  return {
    type: "object",
    description: def.description,
    required: ["spec"],
    properties: {
      apiVersion: {
        type: "string",
        description: `Versioned schema of this representation of the object: ${GROUP}/${VERSION}.`,
      },
      kind: {
        type: "string",
        description: `Kind of the object: ${def.kind}.`,
      },
      // The API server allows nothing on metadata but restrictions of name (no description either).
      metadata: def.metadataName
        ? { type: "object", properties: { name: def.metadataName } }
        : { type: "object" },
      spec: def.spec,
      status: def.status,
    },
  };
}

export function crdName(def: KindDefinition): string {
  return `${def.plural}.${GROUP}`;
}

export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: crdName(def),
      labels: { "app.kubernetes.io/part-of": "ferry" },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: CATEGORIES,
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openAPISchema(def) },
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          ...(def.selectableFields.length > 0 && {
            selectableFields: def.selectableFields.map((jsonPath) => ({ jsonPath })),
          }),
        },
      ],
    },
  };
}
