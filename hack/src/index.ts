export * from "./cluster/cluster.ts";
export * from "./cluster/components.ts";
export * from "./cluster/named.ts";
export * from "./cluster/ports.ts";
export * from "./cluster/process.ts";
