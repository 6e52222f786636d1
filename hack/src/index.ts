export * from "./cluster/cluster.ts";
export * from "./cluster/components.ts";
