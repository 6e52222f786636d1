/**
 * A TCP proxy between a client and the test cluster's API server, to break the connection the way
 * networks do, without mocking the server: `cut` resets every open connection (a transport error),
 * `hold` accepts new connections but forwards nothing until `release` (the server is unreachable;
 * requests wait), `blackhole` keeps open connections open but silent (a dead peer that sends no
 * reset). `kube` is a client whose traffic goes through the proxy.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { connect, type Kube } from "@ferry/common/kube";
import { testKubeconfig } from "@ferry/hack/testing";

export interface FaultyProxy {
  kube: Kube;
  cut(): void;
  hold(): void;
  release(): void;
  blackhole(): void;
}

export async function startProxy(t: TestContext): Promise<FaultyProxy> {
  const kubeconfig = await readFile(testKubeconfig(), "utf8");
  const server = /server: (https:\/\/[^\s]+)/.exec(kubeconfig)?.[1];
  if (!server) throw new Error("no server in the test kubeconfig");
  const target = new URL(server);
  const pairs = new Set<[net.Socket, net.Socket]>();
  let held: net.Socket[] | undefined;

  const forward = (client: net.Socket) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const proxy = net.createServer((client) => {
    if (held) {
      client.on("error", () => client.destroy());
      held.push(client);
    } else forward(client);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), "ferry-proxy-"));
  const path = join(dir, "kubeconfig");
  await writeFile(path, kubeconfig.replace(server, `https://127.0.0.1:${port}`));

  const cut = () => {
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  t.after(() => {
    for (const socket of held ?? []) socket.destroy();
    cut();
    proxy.close();
  });
  return {
    kube: connect(path),
    cut,
    hold: () => {
      held ??= [];
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const client of waiting) if (!client.destroyed) forward(client);
    },
    blackhole: () => {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
  };
}
