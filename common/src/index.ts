export * from "./k8s-types.ts";
export * from "./kube.ts";
export * from "./names.ts";
export * from "./registration-key.ts";
export * from "./seal.ts";
