import { openAPISchemas } from "./generated/schemas.ts";
import type { FerryKind, FerryObjects } from "./generated/types.ts";
import type { Schema } from "./schema/dialect.ts";

/**
 * Fills in defaults the way the API server does when it decodes a request (pruneNulls then Default
 * in apiextensions-apiserver's defaulting package): a property that is absent or null gets its
 * schema default, then defaulting continues inside it; a null without a default is dropped. Objects
 * in arrays and maps are defaulted too. Mutates `value`.
 */
export function applyDefaults(value: unknown, schema: Schema): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(item, schema.items);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const object = value as Record<string, unknown>;
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    if (object[key] === null) delete object[key];
    if (object[key] === undefined && property.default !== undefined) {
      object[key] = structuredClone(property.default);
    }
  }
  for (const [key, child] of Object.entries(object)) {
    const childSchema = schema.properties?.[key] ?? schema.additionalProperties;
    if (childSchema) applyDefaults(child, childSchema);
  }
}

/** A copy of `object` with every default of its kind filled in, as the API server would store it. */
export function withDefaults<K extends FerryKind>(kind: K, object: FerryObjects[K]): FerryObjects[K] {
  const copy = structuredClone(object);
  applyDefaults(copy, openAPISchemas[kind]);
  return copy;
}
