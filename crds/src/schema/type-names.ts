import type { Schema } from "./dialect.ts";

/**
 * Names for the TypeScript interfaces generated from object schemas. Kept beside the schema (keyed
 * by object identity) rather than inside it, so the schema stays pure Kubernetes dialect and no
 * marker has to be stripped before it becomes a CRD.
 */
const names = new WeakMap<Schema, string>();

/** Marks `schema` to be generated as the interface `name`; returns `schema` unchanged. */
export function named<S extends Schema>(name: string, schema: S): S {
  names.set(schema, name);
  return schema;
}

export function typeName(schema: Schema): string | undefined {
  return names.get(schema);
}
