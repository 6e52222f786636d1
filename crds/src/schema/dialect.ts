/**
 * The part of the Kubernetes structural OpenAPI v3 dialect (apiextensions.k8s.io/v1 JSONSchemaProps)
 * that Ferry's API is written in. Only what the API server accepts in a structural schema is here,
 * so whatever type-checks as a `Schema` can be copied into a CRD unchanged.
 */

/** How the API server classifies a failed CEL rule; it decides the error type in the response. */
export type ValidationReason =
  | "FieldValueInvalid"
  | "FieldValueForbidden"
  | "FieldValueRequired"
  | "FieldValueDuplicate";

/** One `x-kubernetes-validations` entry. */
export interface ValidationRule {
  rule: string;
  message: string;
  /** Where the API server reports the failure, relative to the rule's location (`.nodes.min`). */
  fieldPath?: string;
  reason?: ValidationReason;
}

export type SchemaType = "object" | "array" | "string" | "integer" | "number" | "boolean";

export interface Schema {
  type?: SchemaType;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  anyOf?: Schema[];
  enum?: string[];
  default?: unknown;
  format?: "int32" | "int64" | "double" | "date-time";
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  /** The value may also be null (OpenAPI v3; ajv reads it natively). */
  nullable?: boolean;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  "x-kubernetes-validations"?: ValidationRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-int-or-string"?: true;
  "x-kubernetes-preserve-unknown-fields"?: true;
}
