/**
 * The runtime as a program (main.ts): where it is and what it calls itself, so a cluster's state
 * file can tell its pid from an unrelated process that reused it (cluster/process.ts `runs`).
 * A module of its own so that starting one costs no import of the runtime.
 */
import { fileURLToPath } from "node:url";

export const PROCESS_NODE_TITLE = "ferry-process-node";
export const PROCESS_NODE_MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
