import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NodeState } from "@ferry/crds";
import { type NodeStateInput, nodeState } from "../../src/policy/node-state.ts";

const NOW = new Date("2025-03-04T10:00:00Z");
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

type Mod = (input: NodeStateInput) => void;

/** A healthy managed node; mods make it otherwise. */
function nodeInput(...mods: Mod[]): NodeStateInput {
  const input: NodeStateInput = {
    managed: true,
    lease: { renewTime: ago(2), leaseDurationSeconds: 15 },
    pod: { phase: "Running", ready: true, deleting: false },
    upgrading: false,
    version: "1.2.0",
    majorityVersion: "1.2.0",
    credentialKeyLoaded: true,
    peersReachable: true,
    configMatchesMajority: true,
  };
  for (const mod of mods) mod(input);
  return input;
}

const renewed =
  (secondsAgo: number): Mod =>
  (i) => {
    i.lease = { renewTime: ago(secondsAgo), leaseDurationSeconds: 15 };
  };
const pod =
  (phase: string, ready = phase === "Running", deleting = false): Mod =>
  (i) => {
    i.pod = { phase, ready, deleting };
  };
const set =
  <K extends keyof NodeStateInput>(key: K, value: NodeStateInput[K]): Mod =>
  (i) => {
    i[key] = value;
  };
const unset =
  (key: keyof NodeStateInput): Mod =>
  (i) => {
    delete i[key];
  };

interface Case {
  name: string;
  input: NodeStateInput;
  state: NodeState;
  reason: string;
  /** Fragments the message must contain. */
  says?: string[];
}

const cases: Case[] = [
  { name: "healthy managed node", input: nodeInput(), state: "Online", reason: "Online" },
  {
    name: "external node: no pod is expected",
    input: nodeInput(set("managed", false), unset("pod")),
    state: "Online",
    reason: "Online",
  },
  {
    name: "no lease at all",
    input: nodeInput(unset("lease")),
    state: "Offline",
    reason: "NoHeartbeat",
    says: ["does not exist"],
  },
  {
    name: "lease never renewed",
    input: nodeInput(set("lease", { leaseDurationSeconds: 15 })),
    state: "Offline",
    reason: "NoHeartbeat",
    says: ["never renewed"],
  },
  {
    name: "unparseable renewTime counts as never renewed",
    input: nodeInput(set("lease", { renewTime: "yesterday", leaseDurationSeconds: 15 })),
    state: "Offline",
    reason: "NoHeartbeat",
  },
  {
    name: "lease expired beyond duration plus grace",
    input: nodeInput(renewed(21)),
    state: "Offline",
    reason: "HeartbeatExpired",
    says: ["21s ago", "15s plus 5s grace"],
  },
  {
    name: "lease expired but within the grace",
    input: nodeInput(renewed(19)),
    state: "Online",
    reason: "Online",
  },
  {
    name: "exactly at the end of the grace",
    input: nodeInput(renewed(20)),
    state: "Online",
    reason: "Online",
  },
  {
    name: "a released lease is Offline at once, however fresh",
    input: nodeInput(set("lease", { renewTime: ago(1), leaseDurationSeconds: 15, holderIdentity: "" })),
    state: "Offline",
    reason: "LeaseReleased",
    says: ["released"],
  },
  {
    name: "a holder the cache does not know about is not a release",
    input: nodeInput(set("lease", { renewTime: ago(1), leaseDurationSeconds: 15, holderIdentity: "n1" })),
    state: "Online",
    reason: "Online",
  },
  {
    name: "lease duration defaults to 15s",
    input: nodeInput(set("lease", { renewTime: ago(21) })),
    state: "Offline",
    reason: "HeartbeatExpired",
  },
  {
    name: "managed pod missing",
    input: nodeInput(unset("pod")),
    state: "Offline",
    reason: "PodMissing",
  },
  {
    name: "managed pod pending",
    input: nodeInput(pod("Pending")),
    state: "Offline",
    reason: "PodNotRunning",
    says: ["Pending"],
  },
  {
    name: "managed pod crashed",
    input: nodeInput(pod("Failed")),
    state: "Offline",
    reason: "PodNotRunning",
  },
  {
    name: "managed pod being deleted",
    input: nodeInput(pod("Running", true, true)),
    state: "Offline",
    reason: "PodTerminating",
  },
  {
    name: "Upgrading masks the deleted pod",
    input: nodeInput(set("upgrading", true), pod("Running", true, true)),
    state: "Upgrading",
    reason: "Upgrading",
  },
  {
    name: "Upgrading masks the expired lease",
    input: nodeInput(set("upgrading", true), renewed(60), set("upgradeTargetVersion", "1.3.0")),
    state: "Upgrading",
    reason: "Upgrading",
    says: ["1.3.0"],
  },
  {
    name: "Upgrading until the new pod is ready",
    input: nodeInput(set("upgrading", true), pod("Running", false)),
    state: "Upgrading",
    reason: "Upgrading",
    says: ["not ready"],
  },
  {
    name: "Upgrading until the node reports the target version",
    input: nodeInput(set("upgrading", true), set("upgradeTargetVersion", "1.3.0")),
    state: "Upgrading",
    reason: "Upgrading",
    says: ["reports version 1.2.0, waiting for 1.3.0"],
  },
  {
    name: "replacement healthy on the target version: usual rules (minority version)",
    input: nodeInput(set("upgrading", true), set("upgradeTargetVersion", "1.3.0"), set("version", "1.3.0")),
    state: "Limited",
    reason: "VersionMismatch",
  },
  {
    name: "replacement healthy and the majority already moved",
    input: nodeInput(
      set("upgrading", true),
      set("upgradeTargetVersion", "1.3.0"),
      set("version", "1.3.0"),
      set("majorityVersion", "1.3.0"),
    ),
    state: "Online",
    reason: "Online",
  },
  {
    name: "configuration differs from the majority",
    input: nodeInput(set("configMatchesMajority", false)),
    state: "Inactive",
    reason: "ConfigurationMismatch",
  },
  {
    name: "Offline wins over Inactive",
    input: nodeInput(set("configMatchesMajority", false), renewed(30)),
    state: "Offline",
    reason: "HeartbeatExpired",
  },
  {
    name: "reaches none of the other nodes",
    input: nodeInput(set("peers", { reachable: 0, total: 3 }), set("peersReachable", false)),
    state: "Inactive",
    reason: "Isolated",
    says: ["none of the other 3 nodes"],
  },
  {
    name: "reaches some of the other nodes",
    input: nodeInput(set("peers", { reachable: 1, total: 3 })),
    state: "Limited",
    reason: "PeersUnreachable",
    says: ["1 of the other 3"],
  },
  {
    name: "peer condition false without counts",
    input: nodeInput(set("peersReachable", false)),
    state: "Limited",
    reason: "PeersUnreachable",
  },
  {
    name: "no peers to reach (single node)",
    input: nodeInput(set("peers", { reachable: 0, total: 0 }), unset("peersReachable")),
    state: "Online",
    reason: "Online",
  },
  {
    name: "credential key not loaded",
    input: nodeInput(set("credentialKeyLoaded", false)),
    state: "Limited",
    reason: "CredentialKeyNotLoaded",
  },
  {
    name: "version differs from the majority",
    input: nodeInput(set("version", "1.1.0")),
    state: "Limited",
    reason: "VersionMismatch",
    says: ["1.1.0", "majority runs 1.2.0"],
  },
  {
    name: "pod running but not ready",
    input: nodeInput(pod("Running", false)),
    state: "Limited",
    reason: "PodNotReady",
  },
  {
    name: "several degradations: the most serious names the reason, the message lists all",
    input: nodeInput(
      set("version", "1.1.0"),
      set("credentialKeyLoaded", false),
      set("peersReachable", false),
    ),
    state: "Limited",
    reason: "CredentialKeyNotLoaded",
    says: ["credential key", "peer port", "1.1.0"],
  },
  {
    name: "Inactive wins over Limited",
    input: nodeInput(set("configMatchesMajority", false), set("credentialKeyLoaded", false)),
    state: "Inactive",
    reason: "ConfigurationMismatch",
  },
  {
    name: "unreported conditions do not degrade",
    input: nodeInput(unset("credentialKeyLoaded"), unset("peersReachable"), unset("version")),
    state: "Online",
    reason: "Online",
  },
  {
    name: "no majority version known",
    input: nodeInput(unset("majorityVersion"), set("version", "0.9.0")),
    state: "Online",
    reason: "Online",
  },
  {
    name: "renewTime slightly ahead (small skew) is fine",
    input: nodeInput(set("lease", { renewTime: ago(-10), leaseDurationSeconds: 15 })),
    state: "Online",
    reason: "Online",
  },
  {
    name: "renewTime far ahead: the node's clock is wrong",
    input: nodeInput(set("lease", { renewTime: ago(-120), leaseDurationSeconds: 15 })),
    state: "Limited",
    reason: "ClockSkew",
    says: ["2m ahead", "NTP"],
  },
  {
    name: "a Date works as renewTime",
    input: nodeInput(set("lease", { renewTime: new Date(NOW.getTime() - 1000), leaseDurationSeconds: 15 })),
    state: "Online",
    reason: "Online",
  },
];

describe("nodeState", () => {
  for (const c of cases) {
    test(c.name, () => {
      const decision = nodeState(c.input, NOW);
      assert.equal(decision.state, c.state, decision.message);
      assert.equal(decision.reason, c.reason, decision.message);
      assert.match(decision.reason, REASON);
      assert.ok(decision.message.length > 0);
      for (const fragment of c.says ?? []) {
        assert.ok(decision.message.includes(fragment), `"${decision.message}" should mention "${fragment}"`);
      }
    });
  }

  test("the input is not modified", () => {
    const input = nodeInput(set("version", "1.1.0"));
    const copy = structuredClone(input);
    nodeState(input, NOW);
    assert.deepEqual(input, copy);
  });
});
