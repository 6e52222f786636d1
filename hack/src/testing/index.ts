export * from "../launcher.ts";
export * from "./crds.ts";
export * from "./etcd.ts";
export * from "./kubectl.ts";
export * from "./logged-process.ts";
export * from "./namespace.ts";
export * from "./process-node.ts";
export * from "./wait.ts";
