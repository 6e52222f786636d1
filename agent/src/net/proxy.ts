/**
 * The agent's outbound proxy settings (LogicalGateway spec.proxy, as the operator passes it to the
 * pod; docs/architecture.md "Agent process contract") and the per-connection decision: direct, or
 * through which proxy. Pure: the environment is a parameter.
 *
 *   None    direct, whatever HTTPS_PROXY/HTTP_PROXY the process environment holds
 *   System  HTTPS_PROXY (https targets), HTTP_PROXY (http targets), NO_PROXY from the environment
 *           (upper case first, then lower case, as Go does)
 *   Custom  the given URL for both schemes (the operator sets it as HTTPS_PROXY and HTTP_PROXY,
 *           with spec.proxy.noProxy as NO_PROXY); `overrides` can pass it directly
 *
 * FERRY_PROXY_MODE unset means System: a node started by hand on a machine behind a proxy expects
 * the machine's proxy variables to be honoured; operator-managed pods always set the mode.
 *
 * Credentials: FERRY_PROXY_USERNAME / FERRY_PROXY_PASSWORD (from the gateway's credentials Secret),
 * else the user information of the proxy URL. They are kept in a ProxyCredentials object that
 * serialises and inspects without the password, and proxy URLs are kept without user information,
 * so logging a config or a decision cannot leak them.
 */
import { inspect } from "node:util";
import { bypassesProxy, type NoProxy, parseNoProxy } from "./no-proxy.ts";

export type ProxyMode = "None" | "System" | "Custom";
export const PROXY_MODES: readonly ProxyMode[] = ["None", "System", "Custom"];

export class ProxyCredentials {
  readonly username: string;
  readonly #password: string;
  constructor(username: string, password: string) {
    this.username = username;
    this.#password = password;
  }
  /** The Proxy-Authorization header value (basic authentication). */
  header(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`).toString("base64")}`;
  }
  /** For the Azure SDK's proxyOptions, which wants the password itself. */
  reveal(): { username: string; password: string } {
    return { username: this.username, password: this.#password };
  }
  toJSON(): object {
    return { username: this.username, password: "[redacted]" };
  }
  [inspect.custom](): string {
    return `ProxyCredentials { username: ${JSON.stringify(this.username)}, password: [redacted] }`;
  }
}

export interface ProxyServer {
  /** Without user information. */
  url: URL;
  /** `host:port`: how errors and logs name the proxy. */
  address: string;
  credentials?: ProxyCredentials;
}

export interface ProxyConfig {
  mode: ProxyMode;
  /** For https targets (the API server, Azure). */
  https?: ProxyServer;
  /** For plain http targets (Azurite, an http account URL). */
  http?: ProxyServer;
  noProxy: NoProxy;
}

export type ProxyDecision =
  | { via: "direct"; reason: "ModeNone" | "NoProxyConfigured" | "NoProxy" }
  | { via: "proxy"; proxy: ProxyServer };

/** What a caller can set instead of the environment (an external node's flags, tests). */
export interface ProxyOverrides {
  mode?: ProxyMode;
  url?: string;
  noProxy?: string | readonly string[];
  username?: string;
  password?: string;
}

export class ProxyConfigError extends Error {
  override name = "ProxyConfigError";
}

type Env = Readonly<Record<string, string | undefined>>;

function envValue(env: Env, name: string): string | undefined {
  const value = env[name] ?? env[name.toLowerCase()];
  return value?.trim() ? value.trim() : undefined;
}

/** A proxy URL from a variable or a spec: `host:port` means http://host:port. */
export function parseProxyUrl(value: string, credentials?: ProxyCredentials): ProxyServer {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    // The value may hold credentials: say what is wrong without repeating it.
    throw new ProxyConfigError("the proxy URL is not a valid URL (expected http://host:port)");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigError(
      `the proxy ${url.host} uses ${url.protocol.replace(/:$/, "")}, but only http and https proxies are supported`,
    );
  }
  const fromUrl = url.username
    ? new ProxyCredentials(decodeURIComponent(url.username), decodeURIComponent(url.password))
    : undefined;
  url.username = "";
  url.password = "";
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const creds = credentials ?? fromUrl;
  return { url, address: `${url.hostname}:${port}`, ...(creds ? { credentials: creds } : {}) };
}

/** The proxy configuration of this process: FERRY_PROXY_MODE and the variables it selects. */
export function proxyConfig(env: Env = process.env, overrides: ProxyOverrides = {}): ProxyConfig {
  const mode = overrides.mode ?? (env.FERRY_PROXY_MODE?.trim() || "System");
  if (!PROXY_MODES.includes(mode as ProxyMode)) {
    throw new ProxyConfigError(`FERRY_PROXY_MODE is "${mode}"; expected one of ${PROXY_MODES.join(", ")}`);
  }
  if (mode === "None") return { mode, noProxy: parseNoProxy(undefined) };

  const username = overrides.username ?? env.FERRY_PROXY_USERNAME;
  const password = overrides.password ?? env.FERRY_PROXY_PASSWORD;
  const credentials = username ? new ProxyCredentials(username, password ?? "") : undefined;
  const noProxy = parseNoProxy(overrides.noProxy ?? envValue(env, "NO_PROXY"));

  if (mode === "Custom") {
    const url = overrides.url ?? envValue(env, "HTTPS_PROXY") ?? envValue(env, "HTTP_PROXY");
    if (!url) throw new ProxyConfigError("FERRY_PROXY_MODE is Custom but no proxy URL is set (HTTPS_PROXY)");
    const server = parseProxyUrl(url, credentials);
    return { mode, https: server, http: server, noProxy };
  }
  const https = envValue(env, "HTTPS_PROXY");
  const http = envValue(env, "HTTP_PROXY");
  return {
    mode: "System",
    ...(https ? { https: parseProxyUrl(https, credentials) } : {}),
    ...(http ? { http: parseProxyUrl(http, credentials) } : {}),
    noProxy,
  };
}

/** Direct or through which proxy, for a connection to `target` (a URL, or scheme, host and port). */
export function proxyFor(
  config: ProxyConfig,
  target: string | URL | { protocol: string; hostname: string; port: number },
): ProxyDecision {
  if (config.mode === "None") return { via: "direct", reason: "ModeNone" };
  let protocol: string;
  let hostname: string;
  let port: number;
  if (typeof target === "string" || target instanceof URL) {
    const url = typeof target === "string" ? new URL(target) : target;
    protocol = url.protocol;
    hostname = url.hostname;
    port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  } else {
    ({ protocol, hostname, port } = target);
  }
  const proxy = protocol === "https:" ? config.https : config.http;
  if (!proxy) return { via: "direct", reason: "NoProxyConfigured" };
  if (bypassesProxy(config.noProxy, hostname, port)) return { via: "direct", reason: "NoProxy" };
  return { via: "proxy", proxy };
}

/** A one-line description for logs: mode, proxy addresses and NO_PROXY, never credentials. */
export function describeProxy(config: ProxyConfig): string {
  if (config.mode === "None") return "no proxy (mode None)";
  const parts = [`mode ${config.mode}`];
  const name = (s: ProxyServer) =>
    `${s.url.protocol}//${s.address}${s.credentials ? " (with credentials)" : ""}`;
  if (config.https) parts.push(`https via ${name(config.https)}`);
  if (config.http) parts.push(`http via ${name(config.http)}`);
  if (!config.https && !config.http) parts.push("no proxy variables set: direct");
  if (config.noProxy.entries.length) parts.push(`NO_PROXY ${config.noProxy.entries.join(",")}`);
  return parts.join("; ");
}
