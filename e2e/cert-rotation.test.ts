/**
 * The fear: "certificate expiry takes my copies down." A gateway with its own CA (spec.tls mode
 * Managed, the default) runs two agent pods that check each other over mutual TLS. A slow copy is
 * running when the CA is rotated on request (the `ferry.dev/force-ca-rotation` annotation, the
 * same pipeline as a CA reaching the end of its life). The scenario proves:
 * - the rotation completes: a new CA in force, the old one dropped from every bundle, and each
 *   node certificate reissued (new serial, later notBefore) by the new CA;
 * - the running agents pick the new certificates up without a restart (the certificate each one
 *   serves is the one in its Secret; same pods, same processes);
 * - trust never broke: PeersReachable stayed True on both nodes (its lastTransitionTime predates
 *   the request, so it did not flip even between samples), both nodes stayed Online;
 * - the copy, running across the certificate reissue, finished Succeeded in its first and only
 *   attempt, with every row exactly once.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import tls from "node:tls";
import type { Lease, Secret } from "@ferry/common";
import type { GatewayNode } from "@ferry/crds";
import { eventually } from "@ferry/hack/testing";
import { eventsAbout, getSecret, nodeLease, secretText } from "./support/external.ts";
import {
  agentPod,
  checkOutput,
  copyJob,
  getJob,
  listNodes,
  SLOW_QUERY,
  type Stack,
  startStack,
  testScope,
  useServices,
  waitFinal,
} from "./support/index.ts";

const services = useServices();
const NODES = ["gw-0", "gw-1"];
/**
 * How long the operator waits for a changed Secret to reach the agents before the next step. The
 * process node's kubelet rewrites mounted Secrets every 5 s (production kubelets: a minute or
 * two, hence the 5-minute default); 10 s leaves it room on a busy machine.
 */
const PROPAGATION_MS = 10_000;

const pemsIn = (bundle: string) =>
  bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const certOf = (secret: Secret | undefined) => new X509Certificate(secretText(secret, "tls.crt"));

interface NodeCert {
  serial: string;
  notBefore: number;
  fingerprint: string;
}
async function nodeCerts(stack: Stack): Promise<Map<string, NodeCert>> {
  const out = new Map<string, NodeCert>();
  for (const node of NODES) {
    const cert = certOf(await getSecret(stack, `${node}-tls`));
    out.set(node, {
      serial: cert.serialNumber,
      notBefore: cert.validFromDate.getTime(),
      fingerprint: cert.fingerprint256,
    });
  }
  return out;
}

/** The certificate a node's agent serves on its peer endpoint right now (from its Lease). */
async function servedFingerprint(lease: Lease | undefined): Promise<string> {
  const url = new URL(lease?.metadata.annotations?.["ferry.dev/peer-endpoint"] ?? "");
  assert.equal(url.protocol, "https:", "the peer endpoint is TLS");
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: url.hostname, port: Number(url.port), rejectUnauthorized: false, servername: "peer" },
      () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(fingerprint);
      },
    );
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no TLS handshake with ${url.host}`)));
    socket.on("error", reject);
  });
}

const peersCondition = (n: GatewayNode) => n.status?.conditions?.find((c) => c.type === "PeersReachable");

test("a CA rotation in the middle of a copy: certificates reissued, trust never broken, the copy untouched", async (t) => {
  const stack = await startStack(await testScope(t), services, {
    spec: { nodes: { min: 2, max: 2 } },
    rows: 30_000,
    operatorEnv: { FERRY_CA_PROPAGATION_MS: String(PROPAGATION_MS) },
  });
  const { kube, namespace } = stack;

  // Both nodes up, their certificates issued, each reaching the other over mutual TLS.
  const before = await eventually(
    "both nodes Online with PeersReachable True",
    async () => {
      const nodes = await listNodes(kube, namespace);
      return nodes.length === 2 &&
        nodes.every((n) => n.status?.state === "Online" && peersCondition(n)?.status === "True")
        ? nodes
        : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  const oldCa = certOf(await getSecret(stack, "gw-ca"));
  const oldCerts = await nodeCerts(stack);
  const pods = new Map<string, { uid: string | undefined; pid: number | undefined }>();
  for (const node of NODES) {
    const { pod, pid } = await agentPod(stack, node);
    pods.set(node, { uid: pod.metadata.uid, pid });
    assert.equal(
      await servedFingerprint(await nodeLease(stack, node)),
      oldCerts.get(node)?.fingerprint,
      `${node} serves the certificate of its Secret`,
    );
  }

  // A slow copy: at least 30 s (2 ms per row, 30,000 rows, 2 partitions at a time).
  await kube.create(copyJob(stack, "across-rotation", { query: SLOW_QUERY, partitions: 8, parallelism: 2 }));
  await eventually(
    "the copy Running",
    async () => (await getJob(kube, namespace, "across-rotation"))?.status?.phase === "Running",
    { timeoutMs: 90_000, intervalMs: 100 },
  );

  // Watch the nodes through the rotation: every sample must show both Online, reaching each other.
  const violations: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const nodes = await listNodes(kube, namespace).catch(() => []);
      for (const n of nodes) {
        const c = peersCondition(n);
        if (n.status?.state !== "Online" || c?.status !== "True")
          violations.push(
            `${n.metadata.name}: ${n.status?.state}, PeersReachable ${c?.status} ${c?.message}`,
          );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  t.after(async () => {
    watching = false;
    await watcher;
  });

  const requestedAt = Date.now();
  await kube.mergePatch(
    { apiVersion: "v1", kind: "Secret", namespace, name: "gw-ca" },
    { metadata: { annotations: { "ferry.dev/force-ca-rotation": "now" } } },
  );

  // The node certificates are reissued by the new CA while the copy runs.
  const reissued = await eventually(
    "both node certificates reissued by the next CA",
    async () => {
      const ca = await getSecret(stack, "gw-ca");
      const next = ca?.data?.["next.crt"] ? new X509Certificate(secretText(ca, "next.crt")) : undefined;
      const current = certOf(ca);
      const signer = next ?? (current.fingerprint256 !== oldCa.fingerprint256 ? current : undefined);
      if (!signer) return undefined;
      for (const node of NODES)
        if (!certOf(await getSecret(stack, `${node}-tls`)).verify(signer.publicKey)) return undefined;
      return { signer, at: Date.now() };
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  const jobAtReissue = await getJob(kube, namespace, "across-rotation");
  assert.equal(
    jobAtReissue?.status?.phase,
    "Running",
    "the copy was still running when the node certificates were reissued",
  );
  t.diagnostic(`certificates reissued ${reissued.at - requestedAt} ms after the request`);

  // The rotation completes: the new CA in force, alone in every bundle.
  const newCa = await eventually(
    "the rotation finished",
    async () => {
      const ca = await getSecret(stack, "gw-ca");
      const current = certOf(ca);
      if (current.fingerprint256 === oldCa.fingerprint256 || ca?.data?.["next.crt"]) return undefined;
      const bundles = [secretText(ca, "ca.crt")];
      for (const node of NODES) bundles.push(secretText(await getSecret(stack, `${node}-tls`), "ca.crt"));
      const single = bundles.every((b) => {
        const pems = pemsIn(b);
        return pems.length === 1 && new X509Certificate(pems[0]!).fingerprint256 === current.fingerprint256;
      });
      return single ? { ca, current } : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
  const doneAt = Date.now();
  t.diagnostic(`rotation finished ${doneAt - requestedAt} ms after the request`);
  assert.equal(
    newCa.current.fingerprint256,
    reissued.signer.fingerprint256,
    "the CA that signed is in force",
  );
  assert.equal(
    newCa.ca?.metadata.annotations?.["ferry.dev/force-ca-rotation"],
    undefined,
    "request consumed",
  );
  const newCerts = await nodeCerts(stack);
  for (const node of NODES) {
    const [was, now] = [oldCerts.get(node)!, newCerts.get(node)!];
    assert.notEqual(now.serial, was.serial, `${node}: a new serial`);
    assert.ok(now.notBefore > was.notBefore, `${node}: a later notBefore`);
    assert.ok(certOf(await getSecret(stack, `${node}-tls`)).verify(newCa.current.publicKey), node);
  }
  const gatewayEvents = (await eventsAbout(stack, "LogicalGateway", stack.gateway)).map((e) => e.reason);
  for (const step of ["CreateNextCa", "TrustBoth", "ReissueNodes", "DropOldCa"])
    assert.ok(
      gatewayEvents.includes(`CaRotation${step}`),
      `Event CaRotation${step}: ${gatewayEvents.join()}`,
    );
  for (const node of NODES) {
    const issued = await eventsAbout(stack, "GatewayNode", node, "CertificateIssued");
    assert.ok(
      issued.some((e) => e.note?.includes("(CaRotation)")),
      `${node}: CertificateIssued (CaRotation) Event`,
    );
  }

  // The agents serve the new certificates, without having been restarted.
  await eventually(
    "both agents serving their reissued certificates",
    async () => {
      for (const node of NODES) {
        const served = await servedFingerprint(await nodeLease(stack, node));
        if (served !== newCerts.get(node)?.fingerprint) return undefined;
      }
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  for (const node of NODES) {
    const { pod, pid } = await agentPod(stack, node);
    assert.deepEqual({ uid: pod.metadata.uid, pid }, pods.get(node), `${node}: same pod, same process`);
  }

  // The copy finishes in its one attempt, exactly.
  const done = await waitFinal(stack, "across-rotation", 180_000);
  const finishedAt = Date.parse(done.status?.completionTime ?? "");
  t.diagnostic(
    `copy finished ${finishedAt - requestedAt} ms after the request (${finishedAt > doneAt ? "after" : "before"} the rotation ended)`,
  );
  assert.equal(done.status?.phase, "Succeeded", JSON.stringify(done.status?.attempts));
  assert.deepEqual(
    done.status?.attempts?.map((a) => [a.attempt, a.result]),
    [[1, "Succeeded"]],
    `one attempt: ${JSON.stringify(done.status?.attempts)}`,
  );
  const out = await checkOutput(stack, done);
  assert.equal(out.lost, 0, "rows lost");
  assert.equal(out.duplicated, 0, "rows duplicated");
  assert.equal(out.outputRows, stack.rows);
  assert.deepEqual(out.strayFiles, []);

  // Trust never broke: no sample saw a node unreachable, and the condition never flipped.
  watching = false;
  await watcher;
  assert.deepEqual(violations, [], "both nodes Online and reaching each other at every sample");
  const after = await listNodes(kube, namespace);
  for (const n of after) {
    const c = peersCondition(n);
    assert.equal(c?.status, "True", `${n.metadata.name}: ${c?.message}`);
    const was = peersCondition(before.find((b) => b.metadata.name === n.metadata.name)!);
    assert.equal(
      c?.lastTransitionTime,
      was?.lastTransitionTime,
      `${n.metadata.name}: PeersReachable did not flip during the rotation`,
    );
  }
});
