import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  bundle,
  bundleContains,
  CA_ROTATION_ANNOTATIONS,
  type CaRotationAction,
  type CaRotationInput,
  type CertificateAndKey,
  caRotationStep,
  certificateInfo,
  createCa,
  DEFAULT_PROPAGATION_MS,
  isIssuedBy,
  issueNodeCertificate,
  trustedIssuer,
} from "../../src/pki/index.ts";
import { allPairsHandshake, type NodeTls } from "./tls-check.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/**
 * The real clock: the walk-through checks every step with real TLS handshakes, which use it. The
 * old CA is made so that it is in its last third of life now (issued 2.5 days ago for 3 days).
 */
const NOW = new Date();
const names = (node: string) => [node, `${node}.ferry.svc`, "localhost", "127.0.0.1"];

async function nodeCert(ca: CertificateAndKey, node: string, now = NOW): Promise<CertificateAndKey> {
  return issueNodeCertificate({ ca, dnsNames: names(node), commonName: node, now, validityDays: 1 });
}

describe("caRotationStep, step by step", () => {
  let a: CertificateAndKey;
  let b: CertificateAndKey;
  let fresh: CertificateAndKey;
  let impostor: CertificateAndKey;
  let onA: CertificateAndKey;
  let onB: CertificateAndKey;
  let onImpostor: CertificateAndKey;

  before(async () => {
    a = await createCa({
      commonName: "ferry-gw-ca",
      now: new Date(NOW.getTime() - 2.5 * DAY),
      validityDays: 3,
    });
    b = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 3 });
    fresh = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 3 });
    impostor = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 3 });
    onA = await nodeCert(a, "gw-0", new Date(NOW.getTime() - HOUR));
    onB = await nodeCert(b, "gw-0");
    onImpostor = await nodeCert(impostor, "gw-0");
  });

  const both = () => bundle([a.certPem, b.certPem]);
  /** Mid-rotation: A in force, B next, both trusted everywhere. */
  const rotating = (more: Partial<CaRotationInput> = {}): CaRotationInput => ({
    currentCaPem: a.certPem,
    nextCaPem: b.certPem,
    trustBundlePem: both(),
    nodes: [
      { name: "gw-0", certPem: onA.certPem, trustBundlePem: both() },
      { name: "gw-1", certPem: onA.certPem, trustBundlePem: both() },
    ],
    now: NOW,
    ...more,
  });
  const since = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

  const cases: { name: string; input: () => CaRotationInput; expect: Partial<CaRotationAction> }[] = [
    {
      name: "a CA in the first two thirds of its life: steady",
      input: () => ({ currentCaPem: fresh.certPem, trustBundlePem: fresh.certPem, nodes: [], now: NOW }),
      expect: { action: "Steady", signWith: "current", annotations: {} },
    },
    {
      name: "a CA in its last third: create the next one",
      input: () => ({ currentCaPem: a.certPem, trustBundlePem: a.certPem, nodes: [], now: NOW }),
      expect: { action: "CreateNextCa", reason: "CaExpiring", signWith: "current" },
    },
    {
      name: "rotation requested by annotation: create the next one now",
      input: () => ({
        currentCaPem: fresh.certPem,
        trustBundlePem: fresh.certPem,
        nodes: [],
        now: NOW,
        rotationRequested: true,
      }),
      expect: {
        action: "CreateNextCa",
        reason: "RotationRequested",
        annotations: {
          [CA_ROTATION_ANNOTATIONS.phase]: "NextCaCreated",
          [CA_ROTATION_ANNOTATIONS.forceRotation]: null,
          [CA_ROTATION_ANNOTATIONS.stepAt]: null,
        },
      },
    },
    {
      name: "a next CA not trusted yet: trust both, in the CA Secret and every node lacking it",
      input: () =>
        rotating({
          trustBundlePem: a.certPem,
          nodes: [
            { name: "gw-1", certPem: onA.certPem, trustBundlePem: a.certPem },
            { name: "gw-0", certPem: onA.certPem, trustBundlePem: both() },
            { name: "gw-2" },
          ],
        }),
      expect: { action: "TrustBoth", nodes: ["gw-1", "gw-2"], signWith: "current" },
    },
    {
      name: "a bundle with the next CA but without the current one is not both",
      input: () => rotating({ nodes: [{ name: "gw-0", certPem: onA.certPem, trustBundlePem: b.certPem }] }),
      expect: { action: "TrustBoth", nodes: ["gw-0"] },
    },
    {
      name: "trusted everywhere a minute ago: wait for the agents to load it",
      input: () => rotating({ lastStepAt: since(MINUTE) }),
      expect: {
        action: "WaitForPropagation",
        signWith: "current",
        until: new Date(NOW.getTime() - MINUTE + DEFAULT_PROPAGATION_MS),
        annotations: {},
      },
    },
    {
      name: "no recorded step time: start the wait now rather than skip it",
      input: () => rotating(),
      expect: {
        action: "WaitForPropagation",
        until: new Date(NOW.getTime() + DEFAULT_PROPAGATION_MS),
        annotations: { [CA_ROTATION_ANNOTATIONS.stepAt]: NOW.toISOString() },
      },
    },
    {
      name: "trust settled: reissue every node not on the next CA, a node without a certificate included",
      input: () =>
        rotating({
          lastStepAt: since(DEFAULT_PROPAGATION_MS),
          nodes: [
            { name: "gw-0", certPem: onA.certPem, trustBundlePem: both() },
            { name: "gw-1", certPem: onB.certPem, trustBundlePem: both() },
            { name: "gw-2", trustBundlePem: both() },
          ],
        }),
      expect: { action: "ReissueNodes", nodes: ["gw-0", "gw-2"], signWith: "next" },
    },
    {
      name: "a certificate from another CA of the same name is not on the next CA",
      input: () =>
        rotating({
          lastStepAt: since(DEFAULT_PROPAGATION_MS),
          nodes: [{ name: "gw-0", certPem: onImpostor.certPem, trustBundlePem: both() }],
        }),
      expect: { action: "ReissueNodes", nodes: ["gw-0"] },
    },
    {
      name: "every node reissued a minute ago: wait for the agents to load their certificates",
      input: () =>
        rotating({
          lastStepAt: since(MINUTE),
          nodes: [
            { name: "gw-0", certPem: onB.certPem, trustBundlePem: both() },
            { name: "gw-1", certPem: onB.certPem, trustBundlePem: both() },
          ],
        }),
      expect: { action: "WaitForPropagation", signWith: "next" },
    },
    {
      name: "every node on the next CA, settled: drop the old CA",
      input: () =>
        rotating({
          lastStepAt: since(DEFAULT_PROPAGATION_MS),
          nodes: [
            { name: "gw-1", certPem: onB.certPem, trustBundlePem: both() },
            { name: "gw-0", certPem: onB.certPem, trustBundlePem: both() },
          ],
        }),
      expect: {
        action: "DropOldCa",
        nodes: ["gw-0", "gw-1"],
        signWith: "next",
        annotations: { [CA_ROTATION_ANNOTATIONS.phase]: "Steady", [CA_ROTATION_ANNOTATIONS.stepAt]: null },
      },
    },
    {
      name: "a requested rotation while one is under way does not start another",
      input: () => rotating({ lastStepAt: since(MINUTE), rotationRequested: true }),
      expect: { action: "WaitForPropagation" },
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const action = caRotationStep(c.input());
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(
          (action as unknown as Record<string, unknown>)[key],
          value,
          `${key}: ${action.message}`,
        );
      }
    });
  }

  test("DropOldCa's bundle holds the next CA only", () => {
    const action = caRotationStep(
      rotating({
        lastStepAt: since(DEFAULT_PROPAGATION_MS),
        nodes: [{ name: "gw-0", certPem: onB.certPem, trustBundlePem: both() }],
      }),
    );
    assert.equal(action.action, "DropOldCa");
    if (action.action !== "DropOldCa") return;
    assert.ok(bundleContains(action.bundlePem, b.certPem));
    assert.equal(bundleContains(action.bundlePem, a.certPem), false);
  });
});

/** The Secrets of one gateway, as the operator and the nodes see them. */
interface World {
  ca: CertificateAndKey & {
    bundlePem: string;
    next?: CertificateAndKey;
    annotations: Record<string, string>;
  };
  nodes: Map<string, NodeTls>;
}

/** Every node accepts every other, by signature and dates at `now`, and by a real TLS handshake. */
async function assertPeersTrustEachOther(world: World, now: Date, when: string): Promise<void> {
  for (const [server, s] of world.nodes) {
    for (const [client, c] of world.nodes) {
      if (server === client) continue;
      assert.ok(
        trustedIssuer(s.certPem, c.caPem, now),
        `${when}: ${client} does not trust ${server}'s certificate`,
      );
    }
  }
  assert.deepEqual(await allPairsHandshake(world.nodes), [], when);
}

/**
 * The walk-through's clock moves in small steps so that it stays within BACKDATE_MS of the real
 * clock, which the TLS handshakes use: certificates it issues must already be valid for them.
 */
const STEP_MS = 10_000;
const PROPAGATION_MS = MINUTE;

describe("a whole CA rotation", () => {
  test("every node keeps talking to every other at every write, and the old CA is gone at the end", async () => {
    const oldCa = await createCa({
      commonName: "ferry-gw-ca",
      now: new Date(NOW.getTime() - 2.5 * DAY),
      validityDays: 3,
    });
    const world: World = {
      ca: { ...oldCa, bundlePem: bundle([oldCa.certPem]), annotations: {} },
      nodes: new Map(),
    };
    for (const name of ["gw-0", "gw-1", "gw-2"]) {
      world.nodes.set(name, {
        ...(await nodeCert(oldCa, name, new Date(NOW.getTime() - HOUR))),
        caPem: world.ca.bundlePem,
      });
    }
    await assertPeersTrustEachOther(world, NOW, "before");

    const steps: string[] = [];
    let now = NOW;
    for (let i = 0; i < 40; i++) {
      const action = caRotationStep({
        currentCaPem: world.ca.certPem,
        ...(world.ca.next ? { nextCaPem: world.ca.next.certPem } : {}),
        trustBundlePem: world.ca.bundlePem,
        nodes: [...world.nodes].map(([name, n]) => ({ name, certPem: n.certPem, trustBundlePem: n.caPem })),
        ...(world.ca.annotations[CA_ROTATION_ANNOTATIONS.stepAt]
          ? { lastStepAt: world.ca.annotations[CA_ROTATION_ANNOTATIONS.stepAt] }
          : {}),
        now,
        propagationMs: PROPAGATION_MS,
      });
      if (steps.at(-1) !== action.action) steps.push(action.action);
      for (const [key, value] of Object.entries(action.annotations)) {
        if (value === null) delete world.ca.annotations[key];
        else world.ca.annotations[key] = value;
      }
      const signer = action.signWith === "next" ? world.ca.next! : world.ca;

      switch (action.action) {
        case "Steady":
          break;
        case "CreateNextCa":
          world.ca.next = await createCa({ commonName: "ferry-gw-ca", now, validityDays: 3 });
          break;
        case "TrustBoth":
          world.ca.bundlePem = action.bundlePem;
          for (const name of action.nodes) {
            world.nodes.get(name)!.caPem = action.bundlePem;
            await assertPeersTrustEachOther(world, now, `after TrustBoth wrote ${name}`);
          }
          break;
        case "WaitForPropagation":
          break;
        case "ReissueNodes":
          assert.equal(signer, world.ca.next);
          for (const name of action.nodes) {
            world.nodes.set(name, {
              ...(await nodeCert(signer, name, now)),
              caPem: world.nodes.get(name)!.caPem,
            });
            await assertPeersTrustEachOther(world, now, `after ReissueNodes wrote ${name}`);
          }
          break;
        case "DropOldCa": {
          const next = world.ca.next!;
          world.ca = { ...next, bundlePem: action.bundlePem, annotations: world.ca.annotations };
          for (const name of action.nodes) {
            world.nodes.get(name)!.caPem = action.bundlePem;
            await assertPeersTrustEachOther(world, now, `after DropOldCa wrote ${name}`);
          }
          break;
        }
      }
      if (action.action === "Steady" && steps.length > 1) break;
      now = new Date(now.getTime() + STEP_MS);
    }

    assert.deepEqual(steps, [
      "CreateNextCa",
      "TrustBoth",
      "WaitForPropagation",
      "ReissueNodes",
      "WaitForPropagation",
      "DropOldCa",
      "Steady",
    ]);
    assert.equal(bundleContains(world.ca.bundlePem, oldCa.certPem), false);
    assert.ok(certificateInfo(world.ca.certPem).notAfter > certificateInfo(oldCa.certPem).notAfter);
    for (const [name, n] of world.nodes) {
      assert.ok(isIssuedBy(n.certPem, world.ca.certPem), `${name} is on the new CA`);
      assert.equal(bundleContains(n.caPem, oldCa.certPem), false, `${name} no longer trusts the old CA`);
    }
    assert.deepEqual(world.ca.annotations, { [CA_ROTATION_ANNOTATIONS.phase]: "Steady" });
  });

  test("the check has teeth: dropping the old CA before reissuing breaks the peers", async () => {
    const oldCa = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 3 });
    const newCa = await createCa({ commonName: "ferry-gw-ca", now: NOW, validityDays: 3 });
    const nodes = new Map<string, NodeTls>();
    nodes.set("gw-0", { ...(await nodeCert(oldCa, "gw-0")), caPem: newCa.certPem });
    nodes.set("gw-1", { ...(await nodeCert(oldCa, "gw-1")), caPem: newCa.certPem });
    const failures = await allPairsHandshake(nodes);
    assert.equal(failures.length, 2, failures.join("; "));
  });
});
