export { type CopyActivitySpec, isCopyActivity } from "./activity.ts";
export { withDefaults } from "./defaults.ts";
export * from "./generated/types.ts";
export { type CustomResourceDefinitionManifest, crdManifests } from "./manifests.ts";
export type { ListMeta, ObjectMeta, OwnerReference } from "./meta.ts";
export { samples } from "./samples.ts";
export { type FieldError, type ValidationResult, validate } from "./validate.ts";
