/** The node TLS endpoint and peer probes with real certificates on loopback. */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { Metrics } from "@ferry/common/runtime";
import { eventually } from "@ferry/hack/testing";
import { certificateInfo } from "../../../operator/src/pki/index.ts";
import { startPeerServer } from "../../src/net/peer-server.ts";
import { probePeers } from "../../src/net/peers.ts";
import { httpsGet, newCa, nodeCert, servedSerial, tlsDirFor, writeTlsDir } from "./helpers.ts";

async function serve(t: TestContext, node: string, tlsDir?: string) {
  const server = await startPeerServer({
    ...(tlsDir ? { tlsDir } : {}),
    port: 0,
    host: "127.0.0.1",
    metrics: new Metrics(),
    ready: () => true,
    node,
    version: "1.2.3",
  });
  t.after(() => server.close());
  return { node, url: `${tlsDir ? "https" : "http"}://127.0.0.1:${server.port}`, server };
}

describe("peer server and probes", () => {
  test("two nodes of one CA reach each other; strangers do not", async (t) => {
    const ca = await newCa();
    const otherCa = await newCa("another-gateway");
    const [c1, c2, c3, stranger, impostor] = await Promise.all([
      nodeCert(ca, "gw-1"),
      nodeCert(ca, "gw-2"),
      nodeCert(ca, "gw-3"),
      nodeCert(otherCa, "gw-4"),
      nodeCert(ca, "gw-9"),
    ]);
    const [d1, d2, d3, d4, d9] = await Promise.all([
      tlsDirFor(t, c1, ca.certPem),
      tlsDirFor(t, c2, ca.certPem),
      tlsDirFor(t, c3, ca.certPem),
      tlsDirFor(t, stranger, otherCa.certPem),
      tlsDirFor(t, impostor, ca.certPem),
    ]);
    const [n1, n2, n4, n9] = await Promise.all([
      serve(t, "gw-1", d1),
      serve(t, "gw-2", d2),
      serve(t, "gw-4", d4),
      serve(t, "gw-9", d9),
    ]);

    const fromThird = await probePeers({ peers: [n1, n2], tlsDir: d3, timeoutMs: 2_000 });
    assert.deepEqual(fromThird, { reachable: 2, total: 2, unreachable: [] });
    assert.equal((await probePeers({ peers: [n2], tlsDir: d1 })).reachable, 1);
    assert.equal((await probePeers({ peers: [n1], tlsDir: d2 })).reachable, 1);

    const mixed = await probePeers({
      peers: [
        n2,
        n4, // a certificate from another CA
        { node: "gw-5", url: n9.url }, // a certificate from the right CA for another name
        { node: "gw-6", url: "https://127.0.0.1:1" }, // nobody listens
      ],
      tlsDir: d1,
      timeoutMs: 2_000,
    });
    assert.equal(mixed.reachable, 1);
    assert.equal(mixed.total, 4);
    const reasons = Object.fromEntries(mixed.unreachable.map((u) => [u.node, u.reason]));
    assert.deepEqual(reasons, {
      "gw-4": "CertificateUntrusted",
      "gw-5": "CertificateNameMismatch",
      "gw-6": "ConnectionRefused",
    });

    // The other CA's node cannot get in either: its client certificate is refused.
    const fromStranger = await probePeers({ peers: [n1], tlsDir: d4 });
    assert.equal(fromStranger.reachable, 0);
  });

  test("/peer needs a client certificate from the bundle; probes and scrapes do not", async (t) => {
    const ca = await newCa();
    const otherCa = await newCa("another-gateway");
    const [c1, foreign] = await Promise.all([nodeCert(ca, "gw-1"), nodeCert(otherCa, "gw-1")]);
    const n1 = await serve(t, "gw-1", await tlsDirFor(t, c1, ca.certPem));
    const anonymous = await httpsGet(`${n1.url}/peer`, { ca: ca.certPem });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body, /client certificate from the gateway's CA is required/);
    const wrongCa = await httpsGet(`${n1.url}/peer`, {
      ca: ca.certPem,
      cert: foreign.certPem,
      key: foreign.keyPem,
    });
    assert.equal(wrongCa.status, 401);
    assert.match(wrongCa.body, /not trusted/);
    const peer = await httpsGet(`${n1.url}/peer`, { ca: ca.certPem, cert: c1.certPem, key: c1.keyPem });
    assert.deepEqual(
      { status: peer.status, body: JSON.parse(peer.body) },
      { status: 200, body: { node: "gw-1", version: "1.2.3" } },
    );
    for (const path of ["/healthz", "/readyz"])
      assert.equal((await httpsGet(`${n1.url}${path}`, { ca: ca.certPem })).status, 200);
    const metrics = await httpsGet(`${n1.url}/metrics`, { ca: ca.certPem });
    assert.equal(metrics.status, 200);
  });

  test("rotation: new connections get the new certificate and bundle, the server stays up", async (t) => {
    const ca = await newCa();
    const [c1, c2] = await Promise.all([nodeCert(ca, "gw-1"), nodeCert(ca, "gw-2")]);
    const d1 = await tlsDirFor(t, c1, ca.certPem);
    const n1 = await serve(t, "gw-1", d1);
    const serial = (pem: string) => certificateInfo(pem).serialNumber.toUpperCase().replace(/^0+/, "");
    assert.equal((await servedSerial(n1.server.port, ca.certPem)).replace(/^0+/, ""), serial(c1.certPem));

    // A half-written update (new certificate, old key) is not installed.
    const renewed = await nodeCert(ca, "gw-1");
    await writeFile(join(d1, "tls.crt"), renewed.certPem);
    assert.equal(await n1.server.reload(), false);
    assert.equal((await servedSerial(n1.server.port, ca.certPem)).replace(/^0+/, ""), serial(c1.certPem));

    // The key follows: the watch installs the set without a restart.
    await writeFile(join(d1, "tls.key"), renewed.keyPem);
    await eventually(
      "the renewed certificate is served",
      async () =>
        (await servedSerial(n1.server.port, ca.certPem)).replace(/^0+/, "") === serial(renewed.certPem),
    );

    // A CA rotation: the bundle holds old and new CA, the node gets a certificate of the new one,
    // and a peer still on the old CA keeps reaching it.
    const nextCa = await newCa("next");
    const bundle = `${ca.certPem.trim()}\n${nextCa.certPem.trim()}\n`;
    const onNext = await nodeCert(nextCa, "gw-1");
    await writeTlsDir(d1, onNext, bundle);
    await eventually(
      "the certificate of the next CA is served",
      async () => (await servedSerial(n1.server.port, bundle)).replace(/^0+/, "") === serial(onNext.certPem),
    );
    const d2 = await tlsDirFor(t, c2, bundle);
    assert.equal((await probePeers({ peers: [n1], tlsDir: d2 })).reachable, 1);
    // A prober that trusts only the old CA no longer accepts gw-1, as it should not.
    const oldOnly = await tlsDirFor(t, c2, ca.certPem);
    assert.equal(
      (await probePeers({ peers: [n1], tlsDir: oldOnly })).unreachable[0]?.reason,
      "CertificateUntrusted",
    );
  });

  test("TLS Disabled: plain HTTP with the same routes", async (t) => {
    const n1 = await serve(t, "gw-1");
    assert.equal(n1.server.tls, false);
    assert.deepEqual(await probePeers({ peers: [n1] }), { reachable: 1, total: 1, unreachable: [] });
    const status = await new Promise<number>((resolve, reject) =>
      http
        .get(`${n1.url}/healthz`, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on("error", reject),
    );
    assert.equal(status, 200);
    const wrongNode = await probePeers({ peers: [{ node: "gw-7", url: n1.url }] });
    assert.equal(wrongNode.unreachable[0]?.reason, "WrongNode");
  });
});
