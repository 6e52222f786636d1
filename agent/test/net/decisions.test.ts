/** The pure parts of the network edge, table by table: NO_PROXY, proxy decisions, conditions, peers. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import type { Lease } from "@ferry/common";
import { bypassesProxy, parseNoProxy } from "../../src/net/no-proxy.ts";
import { peerEndpointsFromLeases, peerEndpointUrl } from "../../src/net/peer-endpoint.ts";
import { type PeerProbeResult, peersReachableCondition } from "../../src/net/peers.ts";
import { describeProxy, ProxyConfigError, proxyConfig, proxyFor } from "../../src/net/proxy.ts";

describe("NO_PROXY matching", () => {
  const cases: [noProxy: string, host: string, port: number, bypass: boolean][] = [
    ["", "example.com", 443, false],
    ["*", "anything.example", 443, true],
    ["example.com", "example.com", 443, true],
    ["example.com", "api.example.com", 443, true],
    ["example.com", "notexample.com", 443, false],
    [".example.com", "example.com", 443, false],
    [".example.com", "blob.example.com", 443, true],
    ["*.example.com", "blob.example.com", 443, true],
    ["*.example.com", "example.com", 443, false],
    ["EXAMPLE.com", "Api.Example.COM.", 443, true],
    ["example.com:8443", "example.com", 443, false],
    ["example.com:8443", "example.com", 8443, true],
    ["10.0.0.0/8", "10.1.2.3", 443, true],
    ["10.0.0.0/8", "11.1.2.3", 443, false],
    ["10.0.0.0/8", "ten.example", 443, false],
    ["192.168.1.10", "192.168.1.10", 6443, true],
    ["192.168.1.10", "192.168.1.11", 6443, false],
    ["192.168.1.10:6443", "192.168.1.10", 443, false],
    ["fd00::/8", "fd12::1", 443, true],
    ["fd00::/8", "[fd12::1]", 443, true],
    ["::1", "::1", 443, true],
    ["[::1]:443", "::1", 443, true],
    ["[::1]:443", "::1", 80, false],
    ["localhost", "127.0.0.1", 443, false],
    ["127.0.0.0/8", "127.0.0.1", 443, true],
    ["a.com, b.com  c.com", "c.com", 443, true],
    ["garbage/xx", "garbage", 443, false],
  ];
  for (const [noProxy, host, port, bypass] of cases) {
    test(`${JSON.stringify(noProxy)} ${host}:${port} → ${bypass ? "direct" : "proxy"}`, () => {
      assert.equal(bypassesProxy(parseNoProxy(noProxy), host, port), bypass);
    });
  }
});

describe("proxy decision", () => {
  const proxyEnv = { HTTPS_PROXY: "http://proxy.corp:3128", HTTP_PROXY: "http://plain.corp:8080" };
  const cases: {
    name: string;
    env: Record<string, string>;
    target: string;
    via: "direct" | string;
  }[] = [
    {
      name: "None ignores HTTPS_PROXY",
      env: { FERRY_PROXY_MODE: "None", ...proxyEnv },
      target: "https://api:6443",
      via: "direct",
    },
    {
      name: "System https",
      env: { FERRY_PROXY_MODE: "System", ...proxyEnv },
      target: "https://api:6443",
      via: "proxy.corp:3128",
    },
    {
      name: "System http",
      env: { FERRY_PROXY_MODE: "System", ...proxyEnv },
      target: "http://azurite:10000",
      via: "plain.corp:8080",
    },
    {
      name: "unset mode is System",
      env: { ...proxyEnv },
      target: "https://api:6443",
      via: "proxy.corp:3128",
    },
    {
      name: "lower-case variables",
      env: { https_proxy: "proxy.lower:3128" },
      target: "https://x",
      via: "proxy.lower:3128",
    },
    {
      name: "System without variables",
      env: { FERRY_PROXY_MODE: "System" },
      target: "https://api",
      via: "direct",
    },
    {
      name: "System NO_PROXY CIDR",
      env: { FERRY_PROXY_MODE: "System", ...proxyEnv, NO_PROXY: "10.96.0.0/12" },
      target: "https://10.96.0.1:443",
      via: "direct",
    },
    {
      name: "Custom uses its URL for both schemes",
      env: { FERRY_PROXY_MODE: "Custom", HTTPS_PROXY: "http://custom:3128" },
      target: "http://azurite:10000",
      via: "custom:3128",
    },
    {
      name: "Custom honours NO_PROXY suffix",
      env: { FERRY_PROXY_MODE: "Custom", HTTPS_PROXY: "http://custom:3128", NO_PROXY: ".svc,.cluster.local" },
      target: "https://kubernetes.default.svc",
      via: "direct",
    },
    {
      name: "default port 80 for a bare proxy",
      env: { HTTPS_PROXY: "bare.corp" },
      target: "https://x",
      via: "bare.corp:80",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const decision = proxyFor(proxyConfig(c.env), c.target);
      assert.equal(decision.via === "direct" ? "direct" : decision.proxy.address, c.via);
    });
  }

  test("Custom overrides win over the environment", () => {
    const config = proxyConfig(
      { FERRY_PROXY_MODE: "System", HTTPS_PROXY: "http://env:1" },
      { mode: "Custom", url: "http://given:2", noProxy: ["skip.me"] },
    );
    const d = proxyFor(config, "https://api");
    assert.equal(d.via === "proxy" && d.proxy.address, "given:2");
    assert.equal(proxyFor(config, "https://skip.me").via, "direct");
  });

  test("credentials: FERRY_PROXY_* first, then the URL; never in logs", () => {
    const fromEnv = proxyConfig({
      FERRY_PROXY_MODE: "Custom",
      HTTPS_PROXY: "http://proxy:3128",
      FERRY_PROXY_USERNAME: "svc",
      FERRY_PROXY_PASSWORD: "hunter2-secret",
    });
    assert.equal(fromEnv.https?.credentials?.username, "svc");
    assert.equal(
      fromEnv.https?.credentials?.header(),
      `Basic ${Buffer.from("svc:hunter2-secret").toString("base64")}`,
    );
    const fromUrl = proxyConfig({ HTTPS_PROXY: "http://u%40corp:p%3Ass-secret@proxy:3128" });
    assert.deepEqual(fromUrl.https?.credentials?.reveal(), { username: "u@corp", password: "p:ss-secret" });
    assert.equal(fromUrl.https?.url.href, "http://proxy:3128/");
    for (const config of [fromEnv, fromUrl]) {
      for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), describeProxy(config)]) {
        assert.doesNotMatch(text, /secret/, text);
      }
    }
  });

  test("configuration errors are clear and do not echo the URL", () => {
    assert.throws(() => proxyConfig({ FERRY_PROXY_MODE: "Sometimes" }), /FERRY_PROXY_MODE is "Sometimes"/);
    assert.throws(() => proxyConfig({ FERRY_PROXY_MODE: "Custom" }), ProxyConfigError);
    assert.throws(
      () => proxyConfig({ HTTPS_PROXY: "socks5://u:topsecret@socks:1080" }),
      (err: Error) => /only http and https proxies/.test(err.message) && !err.message.includes("topsecret"),
    );
  });
});

describe("PeersReachable condition", () => {
  const result = (reachable: number, total: number): PeerProbeResult => ({
    reachable,
    total,
    unreachable: Array.from({ length: total - reachable }, (_, i) => ({
      node: `gw-${i + 2}`,
      reason: "ConnectionRefused",
      message: "refused",
    })),
  });
  const cases: [string, PeerProbeResult | undefined, string, string][] = [
    ["not probed", undefined, "Unknown", "NotProbed"],
    ["single node", result(0, 0), "Unknown", "NoPeers"],
    ["all", result(3, 3), "True", "AllPeersReachable"],
    ["some", result(2, 3), "False", "SomePeersUnreachable"],
    ["none", result(0, 2), "False", "NoPeersReachable"],
  ];
  for (const [name, input, status, reason] of cases) {
    test(name, () => {
      const c = peersReachableCondition(input);
      assert.equal(c.type, "PeersReachable");
      assert.equal(c.status, status);
      assert.equal(c.reason, reason);
    });
  }
  test("the message counts and names the unreachable nodes, at most five", () => {
    const c = peersReachableCondition(result(1, 8));
    assert.match(c.message, /reaches 1 of the other 8 nodes/);
    assert.match(c.message, /gw-2 \(ConnectionRefused\)/);
    assert.match(c.message, /and 2 more/);
  });
});

describe("peer endpoints from Leases", () => {
  const now = new Date("2025-01-01T00:00:30Z");
  const lease = (node: string, renew: string | undefined, endpoint?: string): Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: `ferry-node-${node}`,
      labels: { "ferry.dev/node": node },
      ...(endpoint ? { annotations: { "ferry.dev/peer-endpoint": endpoint } } : {}),
    },
    spec: { holderIdentity: node, leaseDurationSeconds: 15, ...(renew ? { renewTime: renew } : {}) },
  });
  test("live leases of other nodes with an endpoint, sorted", () => {
    const peers = peerEndpointsFromLeases(
      [
        lease("gw-3", "2025-01-01T00:00:25Z", "https://10.0.0.3:8443"),
        lease("gw-1", "2025-01-01T00:00:29Z", "https://10.0.0.1:8443"),
        lease("gw-2", "2025-01-01T00:00:28Z", "https://10.0.0.2:8443"),
        lease("gw-4", "2025-01-01T00:00:28Z"), // no endpoint (TLS port not served, old agent)
        lease("gw-5", "2025-01-01T00:00:05Z", "https://10.0.0.5:8443"), // expired: offline, not probed
        lease("gw-6", undefined, "https://10.0.0.6:8443"), // never renewed
      ],
      { self: "gw-1", now },
    );
    assert.deepEqual(peers, [
      { node: "gw-2", url: "https://10.0.0.2:8443" },
      { node: "gw-3", url: "https://10.0.0.3:8443" },
    ]);
  });
  test("endpoint URLs", () => {
    assert.equal(peerEndpointUrl("10.0.0.1", 8443, true), "https://10.0.0.1:8443");
    assert.equal(peerEndpointUrl("fd00::1", 8443, true), "https://[fd00::1]:8443");
    assert.equal(peerEndpointUrl("vm1.corp", 8080, false), "http://vm1.corp:8080");
  });
});
