import type { Schema } from "./dialect.ts";

/** One `additionalPrinterColumns` entry: what `kubectl get` shows. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  /** 0 shows in the default view, 1 only with `-o wide`. */
  priority?: 0 | 1;
}

/** Everything the generator needs to know about one kind; the CRD's boilerplate is filled in by it. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  printerColumns: PrinterColumn[];
  /** JSONPaths usable in field selectors, so controllers can list by them without labels. */
  selectableFields: string[];
  /**
   * Restrictions on metadata.name beyond the API server's own (a DNS subdomain), for kinds whose
   * name is embedded in other names or label values.
   */
  metadataName?: Schema;
  spec: Schema;
  status: Schema;
}
