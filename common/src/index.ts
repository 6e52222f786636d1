export * from "./kube.ts";
