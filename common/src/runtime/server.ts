/**
 * The operator's operations endpoint: `/metrics` for Prometheus, `/healthz` for the liveness probe
 * and `/readyz` for the readiness probe. Plain HTTP: it carries no secrets, and probes and scrapers
 * inside the cluster reach it on the pod network.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EXPOSITION_CONTENT_TYPE, type Metrics } from "./metrics.ts";

export interface OpsServerOptions {
  /** 0 picks a free port (tests); the chosen one is `OpsServer.port`. */
  port: number;
  host?: string;
  metrics: Metrics;
  /** Readiness: e.g. every informer has synced. Not ready is a 503, so traffic and rollouts wait. */
  ready: () => boolean;
  /** Liveness; defaults to "the event loop answers", which is what a hung process fails. */
  healthy?: () => boolean;
}

export interface OpsServer {
  readonly port: number;
  /** Stops accepting, lets in-flight responses finish (at most `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

export type Reply = (status: number, contentType: string, body: string) => void;

/**
 * The operations routes (`/metrics`, `/healthz`, `/readyz`) as a request listener, with room for
 * more routes: the agent's node endpoint serves the same ones beside `/peer`, over TLS.
 */
export function opsRequestListener(
  options: Pick<OpsServerOptions, "metrics" | "ready" | "healthy">,
  routes: Record<string, (req: http.IncomingMessage, reply: Reply) => void> = {},
): http.RequestListener {
  const healthy = options.healthy ?? (() => true);
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const reply: Reply = (status, contentType, body) => {
      res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    try {
      switch (path) {
        case "/metrics":
          return reply(200, EXPOSITION_CONTENT_TYPE, options.metrics.expose());
        case "/healthz":
          return healthy() ? reply(200, "text/plain", "ok\n") : reply(503, "text/plain", "unhealthy\n");
        case "/readyz":
          return options.ready() ? reply(200, "text/plain", "ok\n") : reply(503, "text/plain", "not ready\n");
        default: {
          const route = routes[path];
          return route ? route(req, reply) : reply(404, "text/plain", "not found\n");
        }
      }
    } catch (err) {
      return reply(500, "text/plain", `${String(err)}\n`);
    }
  };
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server = http.createServer(opsRequestListener(options));
  server.listen(options.port, options.host);
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    close: async (graceMs = 5_000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Scrapers keep connections alive; idle ones would hold close() open until they time out.
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
    },
  };
}
