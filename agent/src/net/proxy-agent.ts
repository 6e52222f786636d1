/**
 * An https.Agent that reaches each https target directly or through an HTTP CONNECT tunnel, as
 * `proxyFor` decides per host: one agent serves the API server, Azure and anything else, and
 * NO_PROXY is applied per connection.
 *
 * Written here rather than taken from https-proxy-agent or Node's NODE_USE_ENV_PROXY because the
 * agent needs the None/System/Custom modes, CIDRs in NO_PROXY, credentials from their own
 * variables and errors that name the proxy and never the credentials; the tunnel is fifty lines.
 *
 * The TLS options of the request (ca, cert, key, servername, rejectUnauthorized) are applied to the
 * TLS session inside the tunnel, so the target is verified exactly as on a direct connection.
 */
import https from "node:https";
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { type ProxyConfig, type ProxyServer, proxyFor } from "./proxy.ts";

export type ProxyErrorReason =
  | "ProxyUnreachable"
  | "ProxyAuthenticationFailed"
  | "ProxyRefused"
  | "ProxyTimeout"
  | "ProxyProtocolError";

/** A failure of the proxy hop. The message names the proxy (host:port) and the target only. */
export class ProxyError extends Error {
  override name = "ProxyError";
  readonly reason: ProxyErrorReason;
  readonly proxy: string;
  constructor(reason: ProxyErrorReason, proxy: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.proxy = proxy;
  }
}

export const DEFAULT_TUNNEL_TIMEOUT_MS = 15_000;
const MAX_RESPONSE_HEAD = 16 * 1024;

/** `host:port` as CONNECT wants it (IPv6 in brackets). */
function authority(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Opens a CONNECT tunnel to `host:port` through `proxy`; resolves with the raw socket. */
export function openTunnel(
  proxy: ProxyServer,
  host: string,
  port: number,
  timeoutMs = DEFAULT_TUNNEL_TIMEOUT_MS,
): Promise<Duplex> {
  const target = authority(host, port);
  const [proxyHost, proxyPort] = [
    proxy.url.hostname.replace(/^\[|\]$/g, ""),
    Number(proxy.address.split(":").pop()),
  ];
  return new Promise((resolve, reject) => {
    const socket: net.Socket =
      proxy.url.protocol === "https:"
        ? tls.connect({ host: proxyHost, port: proxyPort, servername: net.isIP(proxyHost) ? "" : proxyHost })
        : net.connect({ host: proxyHost, port: proxyPort });
    let head = Buffer.alloc(0);
    let settled = false;
    const fail = (reason: ProxyErrorReason, message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new ProxyError(reason, proxy.address, message, cause === undefined ? undefined : { cause }));
    };
    const timer = setTimeout(
      () =>
        fail(
          "ProxyTimeout",
          `the proxy ${proxy.address} did not open a tunnel to ${target} within ${timeoutMs} ms`,
        ),
      timeoutMs,
    );
    socket.once("error", (err: NodeJS.ErrnoException) =>
      fail(
        "ProxyUnreachable",
        `cannot reach the proxy ${proxy.address}: ${err.code ?? err.message} (connecting to ${target})`,
        err,
      ),
    );
    socket.once(proxy.url.protocol === "https:" ? "secureConnect" : "connect", () => {
      const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
      if (proxy.credentials) lines.push(`Proxy-Authorization: ${proxy.credentials.header()}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD)
          fail(
            "ProxyProtocolError",
            `the proxy ${proxy.address} sent an oversized response to CONNECT ${target}`,
          );
        return;
      }
      socket.off("data", onData);
      socket.off("end", onEnd);
      const statusLine = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      const status = match ? Number(match[1]) : 0;
      const text = `${status} ${match?.[2] ?? ""}`.trim();
      if (status === 200) {
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners("error");
        // Bytes after the response head already belong to the tunnelled stream.
        const rest = head.subarray(end + 4);
        if (rest.length) socket.unshift(rest);
        resolve(socket);
      } else if (status === 407) {
        fail(
          "ProxyAuthenticationFailed",
          proxy.credentials
            ? `the proxy ${proxy.address} rejected the proxy credentials (${text}); check the username and password of the gateway's proxy credentials Secret`
            : `the proxy ${proxy.address} requires credentials (${text}); set them in the gateway's proxy credentials Secret`,
        );
      } else if (status === 0) {
        fail(
          "ProxyProtocolError",
          `the proxy ${proxy.address} answered CONNECT ${target} with something that is not HTTP`,
        );
      } else {
        fail("ProxyRefused", `the proxy ${proxy.address} refused to open a tunnel to ${target} (${text})`);
      }
    };
    const onEnd = () =>
      fail(
        "ProxyProtocolError",
        `the proxy ${proxy.address} closed the connection before answering CONNECT ${target}`,
      );
    socket.on("data", onData);
    socket.once("end", onEnd);
  });
}

type CreateConnectionCallback = (err: Error | null, stream: Duplex) => void;

export interface ProxyAgentOptions extends https.AgentOptions {
  /** How long opening a tunnel may take. */
  tunnelTimeoutMs?: number;
}

export class ProxyAgent extends https.Agent {
  readonly config: ProxyConfig;
  readonly #tunnelTimeoutMs: number;

  constructor(config: ProxyConfig, options: ProxyAgentOptions = {}) {
    const { tunnelTimeoutMs, ...agentOptions } = options;
    super({ keepAlive: true, ...agentOptions });
    this.config = config;
    this.#tunnelTimeoutMs = tunnelTimeoutMs ?? DEFAULT_TUNNEL_TIMEOUT_MS;
  }

  override createConnection(
    options: tls.ConnectionOptions & { host?: string; hostname?: string; port?: number | string },
    callback?: CreateConnectionCallback,
  ): Duplex | null | undefined {
    const host = (options.host ?? options.hostname ?? "localhost").replace(/^\[|\]$/g, "");
    const port = Number(options.port ?? 443);
    const decision = proxyFor(this.config, { protocol: "https:", hostname: host, port });
    // https.Agent's own createConnection: a direct TLS connection (with session reuse).
    if (decision.via === "direct") return super.createConnection(options as never);
    openTunnel(decision.proxy, host, port, this.#tunnelTimeoutMs).then(
      (socket) => {
        // SNI carries names only: an IP target is verified against its IP SANs without it.
        const name = options.servername || host;
        const { servername: _, ...rest } = options;
        const secure = tls.connect({ ...rest, socket, ...(net.isIP(name) ? {} : { servername: name }) });
        callback?.(null, secure);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** The one agent for every https connection the agent process makes (API server, Azure). */
export function proxyAgent(config: ProxyConfig, options?: ProxyAgentOptions): ProxyAgent {
  return new ProxyAgent(config, options);
}
