export * from "./namespace.ts";
export * from "./wait.ts";
