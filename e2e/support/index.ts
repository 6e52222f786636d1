export * from "./external.ts";
export * from "./operator.ts";
export * from "./output.ts";
export * from "./processes.ts";
export * from "./scenario.ts";
export * from "./stack.ts";
export * from "./trials.ts";
