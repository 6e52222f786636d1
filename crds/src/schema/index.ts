import { copyJob } from "./copy-job.ts";
import { dataStore } from "./data-store.ts";
import { gatewayNode } from "./gateway-node.ts";
import type { KindDefinition } from "./kind.ts";
import { logicalGateway } from "./logical-gateway.ts";

export const GROUP = "ferry.dev";
export const VERSION = "v1alpha1";
export const CATEGORIES = ["ferry"];

/** Every kind, in the order the generated files list them. */
export const KINDS: KindDefinition[] = [logicalGateway, gatewayNode, dataStore, copyJob];
