export * from "./cluster/cluster.ts";
export * from "./cluster/components.ts";
export * from "./cluster/ports.ts";
