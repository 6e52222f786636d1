/**
 * The outbound proxy for real: the kube client reaches the test control plane's API server through
 * a CONNECT proxy written here, and the Azure Blob client reaches Azurite through it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BlobServiceClient } from "@azure/storage-blob";
import { connect } from "@ferry/common/kube";
import { type AzuriteServer, startAzurite } from "@ferry/hack/services";
import { testKubeconfig } from "@ferry/hack/testing";
import { blobServiceClient, setBlobNetwork } from "../../src/dataplane/connectors/azure-blob.ts";
import type { StoreConfig } from "../../src/dataplane/types.ts";
import { blobNetworkOptions } from "../../src/net/blob-network.ts";
import { proxyConfig } from "../../src/net/proxy.ts";
import { ProxyAgent, ProxyError } from "../../src/net/proxy-agent.ts";
import { startTestProxy, type TestProxy } from "./helpers.ts";

const PASSWORD = "pr0xy-s3cret";

function apiServer(): URL {
  const kube = connect(testKubeconfig());
  return new URL(kube.server);
}

describe("the API server through the proxy", () => {
  let proxy: TestProxy;
  let server: URL;
  before(async () => {
    proxy = await startTestProxy({ username: "ferry", password: PASSWORD });
    server = apiServer();
  });
  after(() => proxy.close());

  const kubeWith = (env: Record<string, string>, keepAlive = true) => {
    const agent = new ProxyAgent(proxyConfig(env), { keepAlive });
    return { kube: connect(testKubeconfig(), { agent }), agent };
  };

  test("Custom: requests and watches go through CONNECT tunnels with credentials", async () => {
    const before = proxy.tunnels.length;
    const { kube, agent } = kubeWith(
      {
        FERRY_PROXY_MODE: "Custom",
        HTTPS_PROXY: proxy.url,
        FERRY_PROXY_USERNAME: "ferry",
        FERRY_PROXY_PASSWORD: PASSWORD,
      },
      false,
    ); // one tunnel per request: discovery, list and watch are each counted
    const namespaces = await kube.list("v1", "Namespace");
    assert.ok(namespaces.some((n) => n.metadata.name === "default"));
    // A watch rides the same agent: it ends on the server's timeout.
    const events: string[] = [];
    const watch = await kube.watch("v1", "Namespace", { timeoutSeconds: 1 }, (e) => events.push(e.type));
    await watch.done;
    assert.ok(events.includes("ADDED"));
    const target = `${server.hostname}:${server.port}`;
    const tunnels = proxy.tunnels.slice(before);
    assert.ok(
      tunnels.length >= 3,
      `expected discovery, the list and the watch tunnelled, saw ${tunnels.length}`,
    );
    assert.ok(
      tunnels.every((t) => t === target),
      tunnels.join(","),
    );
    agent.destroy();
  });

  test("System: the process environment's HTTPS_PROXY with credentials in the URL", async () => {
    const before = proxy.tunnels.length;
    const { kube, agent } = kubeWith({
      FERRY_PROXY_MODE: "System",
      HTTPS_PROXY: `http://ferry:${encodeURIComponent(PASSWORD)}@${proxy.address}`,
    });
    await kube.list("v1", "Namespace");
    assert.ok(proxy.tunnels.length > before);
    agent.destroy();
  });

  test("None never touches the proxy, even with HTTPS_PROXY set", async () => {
    const before = { tunnels: proxy.tunnels.length, refused: proxy.refused };
    const { kube, agent } = kubeWith({
      FERRY_PROXY_MODE: "None",
      HTTPS_PROXY: proxy.url,
      HTTP_PROXY: proxy.url,
    });
    await kube.list("v1", "Namespace");
    assert.equal(proxy.tunnels.length, before.tunnels);
    assert.equal(proxy.refused, before.refused);
    agent.destroy();
  });

  test("NO_PROXY bypasses the proxy for the API server's address", async () => {
    for (const noProxy of [server.hostname, "127.0.0.0/8", `${server.hostname}:${server.port}`, "*"]) {
      const before = { tunnels: proxy.tunnels.length, refused: proxy.refused };
      const { kube, agent } = kubeWith({
        FERRY_PROXY_MODE: "Custom",
        HTTPS_PROXY: proxy.url,
        NO_PROXY: noProxy,
      });
      await kube.list("v1", "Namespace");
      assert.equal(proxy.tunnels.length, before.tunnels, noProxy);
      assert.equal(proxy.refused, before.refused, noProxy);
      agent.destroy();
    }
  });

  test("wrong credentials: a clear error naming the proxy, never the password", async () => {
    const { kube, agent } = kubeWith({
      FERRY_PROXY_MODE: "Custom",
      HTTPS_PROXY: proxy.url,
      FERRY_PROXY_USERNAME: "ferry",
      FERRY_PROXY_PASSWORD: "wrong-s3cret",
    });
    await assert.rejects(kube.list("v1", "Namespace"), (err: unknown) => {
      assert.ok(err instanceof ProxyError);
      assert.equal(err.reason, "ProxyAuthenticationFailed");
      assert.equal(err.proxy, proxy.address);
      assert.match(err.message, new RegExp(`proxy ${proxy.address} rejected the proxy credentials \\(407`));
      assert.doesNotMatch(`${err.message} ${String(err.stack)}`, /s3cret/);
      return true;
    });
    agent.destroy();
  });

  test("no credentials where the proxy wants some; an unreachable proxy", async () => {
    const noCreds = kubeWith({ FERRY_PROXY_MODE: "Custom", HTTPS_PROXY: proxy.url });
    await assert.rejects(noCreds.kube.list("v1", "Namespace"), /proxy 127\.0\.0\.1:\d+ requires credentials/);
    noCreds.agent.destroy();
    const closed = await startTestProxy();
    await closed.close();
    const dead = kubeWith({ FERRY_PROXY_MODE: "Custom", HTTPS_PROXY: closed.url });
    await assert.rejects(dead.kube.list("v1", "Namespace"), (err: unknown) => {
      assert.ok(err instanceof ProxyError);
      assert.equal(err.reason, "ProxyUnreachable");
      assert.match(err.message, new RegExp(`cannot reach the proxy ${closed.address}: ECONNREFUSED`));
      return true;
    });
    dead.agent.destroy();
  });
});

describe("the Blob client through the proxy (Azurite, plain HTTP)", () => {
  let azurite: AzuriteServer;
  let proxy: TestProxy;
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, HTTPS_PROXY: process.env.HTTPS_PROXY };
  before(async () => {
    [azurite, proxy] = await Promise.all([
      startAzurite(),
      startTestProxy({ username: "ferry", password: PASSWORD }),
    ]);
    await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient("proxied")
      .create();
  });
  after(async () => {
    setBlobNetwork(() => ({}));
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await Promise.all([azurite?.stop(), proxy?.close()]);
  });

  const store = (): StoreConfig => ({
    type: "AzureBlob",
    connection: { accountUrl: azurite.blobEndpoint, container: "proxied" },
    credentials: { accountKey: azurite.accountKey },
  });
  const useProxy = (env: Record<string, string>) => {
    const config = proxyConfig(env);
    setBlobNetwork(blobNetworkOptions(config, new ProxyAgent(config)));
  };
  const roundTrip = async (name: string) => {
    const container = blobServiceClient(store()).getContainerClient("proxied");
    await container.getBlockBlobClient(name).upload("hello", 5);
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    assert.ok(names.includes(name));
  };

  test("Custom with credentials: every request is forwarded by the proxy", async () => {
    useProxy({
      FERRY_PROXY_MODE: "Custom",
      HTTPS_PROXY: proxy.url,
      HTTP_PROXY: proxy.url,
      FERRY_PROXY_USERNAME: "ferry",
      FERRY_PROXY_PASSWORD: PASSWORD,
    });
    const before = proxy.forwarded.length;
    await roundTrip("via-proxy.txt");
    const seen = proxy.forwarded.slice(before);
    assert.ok(seen.length >= 2, `the proxy forwarded ${seen.length} requests`);
    assert.ok(
      seen.every((u) => u.startsWith(azurite.blobEndpoint)),
      seen.join(","),
    );
    assert.equal(proxy.refused, 0);
  });

  test("None: direct, although the SDK would otherwise take HTTP_PROXY from the environment", async () => {
    process.env.HTTP_PROXY = proxy.url;
    process.env.HTTPS_PROXY = proxy.url;
    useProxy({ FERRY_PROXY_MODE: "None", HTTP_PROXY: proxy.url });
    const before = { forwarded: proxy.forwarded.length, refused: proxy.refused };
    await roundTrip("direct.txt");
    assert.deepEqual({ forwarded: proxy.forwarded.length, refused: proxy.refused }, before);
  });

  test("NO_PROXY: direct for the emulator's address", async () => {
    useProxy({ FERRY_PROXY_MODE: "Custom", HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.0/8" });
    const before = { forwarded: proxy.forwarded.length, refused: proxy.refused };
    await roundTrip("bypass.txt");
    assert.deepEqual({ forwarded: proxy.forwarded.length, refused: proxy.refused }, before);
  });
});
