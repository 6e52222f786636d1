import type { GatewayPhase, NodeState } from "@ferry/crds";

/**
 * The phase of a LogicalGateway from the states of its nodes (design: NeedsRegistration with no
 * node, Online when all nodes are Online, Offline when none is, Limited otherwise), and the
 * gateway's majority agent version, which node-state.ts compares each node against.
 */

export interface GatewayPhaseDecision {
  phase: GatewayPhase;
  reason: string;
  message: string;
}

const ORDER: NodeState[] = ["Online", "Limited", "Upgrading", "Inactive", "Offline"];

function tally(states: readonly NodeState[]): string {
  return ORDER.map((state) => [state, states.filter((s) => s === state).length] as const)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state}`)
    .join(", ");
}

export function gatewayPhase(nodeStates: readonly NodeState[]): GatewayPhaseDecision {
  const total = nodeStates.length;
  if (total === 0) {
    return {
      phase: "NeedsRegistration",
      reason: "NoNodes",
      message:
        "the gateway has no node: raise spec.nodes.min for managed nodes, or register an external " +
        "node with the key in the gateway's registration Secret",
    };
  }
  const online = nodeStates.filter((s) => s === "Online").length;
  if (online === total) {
    return { phase: "Online", reason: "AllNodesOnline", message: `all ${total} nodes are Online` };
  }
  if (online === 0) {
    return {
      phase: "Offline",
      reason: "NoNodeOnline",
      message: `none of the ${total} nodes is Online (${tally(nodeStates)}): see the nodes' conditions`,
    };
  }
  return {
    phase: "Limited",
    reason: "SomeNodesNotOnline",
    message: `${online} of ${total} nodes are Online (${tally(nodeStates)}): see the other nodes' conditions`,
  };
}

/**
 * Compares agent versions: numeric dot-separated parts numerically ("1.10.0" > "1.9.2"), a leading
 * "v" ignored, a pre-release ("1.2.0-rc.1") before its release, anything else by string order.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const bare = v.replace(/^v/, "");
    const dash = bare.indexOf("-");
    return dash < 0
      ? { core: bare, pre: undefined }
      : { core: bare.slice(0, dash), pre: bare.slice(dash + 1) };
  };
  const x = split(a);
  const y = split(b);
  const xs = x.core.split(".");
  const ys = y.core.split(".");
  for (let i = 0; i < Math.max(xs.length, ys.length); i++) {
    const p = xs[i] ?? "0";
    const q = ys[i] ?? "0";
    const numeric = /^\d+$/.test(p) && /^\d+$/.test(q);
    const order = numeric ? Number(p) - Number(q) : p < q ? -1 : p > q ? 1 : 0;
    if (order !== 0) return Math.sign(order);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/**
 * The version most nodes run; undefined when no node reports one. A tie goes to the highest
 * version (compareVersions): during a rollout that is the version the gateway is moving to, so
 * with one node of each the new one is not flagged while the old one is, which is the truth — the
 * old one is behind. The result does not depend on the order of the input.
 */
export function majorityVersion(versions: readonly (string | undefined)[]): string | undefined {
  const counts = new Map<string, number>();
  for (const version of versions) {
    if (version) counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  let best: [string, number] | undefined;
  for (const entry of counts) {
    if (best === undefined || entry[1] > best[1]) {
      best = entry;
    } else if (entry[1] === best[1]) {
      // "1.2" and "1.2.0" compare equal; string order then keeps the result order-independent.
      const order = compareVersions(entry[0], best[0]) || (entry[0] > best[0] ? 1 : -1);
      if (order > 0) best = entry;
    }
  }
  return best?.[0];
}
