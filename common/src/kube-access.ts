/**
 * How a client reaches the API server and proves who it is. Ferry's processes meet three cases,
 * handled here without @kubernetes/client-node:
 *
 * - a bearer token and a CA: the registration key of an agent outside the cluster;
 * - the pod's ServiceAccount (in-cluster): the projected token is read again when it may have been
 *   rotated, as the kubelet rewrites it;
 * - a kubeconfig whose user is a token, a token file or a client certificate (inline or in files).
 *
 * Any other kubeconfig user (exec plugins, auth providers, basic auth) or a kubeconfig list in
 * $KUBECONFIG is handed to client-node's KubeConfig, imported only then: loading client-node costs
 * about 80 MiB of resident memory and over a second (its generated API models come with the
 * KubeConfig class), more than the rest of an agent, for what three small files need.
 *
 * Requests go through one keep-alive https.Agent per access (or the caller's agent): a fresh TLS
 * handshake per request costs both sides CPU.
 */
import { existsSync, readFileSync } from "node:fs";
import https from "node:https";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { load as loadYaml } from "js-yaml";

export interface ClusterAccess {
  /** The API server URL, without a trailing slash. */
  readonly server: string;
  /** The CA that signs the API server's certificate (PEM), when one is named. */
  readonly caPem: string | undefined;
  /** The namespace of the kubeconfig's current context, or the pod's own. */
  readonly namespace: string | undefined;
  /** Puts the TLS material, credentials and connection agent into a request's options. */
  apply(options: https.RequestOptions): Promise<void>;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The kubelet refreshes projected tokens well before they expire; re-reading each minute follows it. */
const TOKEN_REREAD_MS = 60_000;

interface Tls {
  ca?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized: boolean;
}

class DirectAccess implements ClusterAccess {
  readonly server: string;
  readonly caPem: string | undefined;
  readonly namespace: string | undefined;
  readonly #tls: Tls;
  readonly #token: (() => string) | undefined;
  readonly #agent: https.Agent;

  constructor(server: string, tls: Tls, token: (() => string) | undefined, namespace: string | undefined) {
    this.server = server.replace(/\/+$/, "");
    this.caPem = tls.ca;
    this.namespace = namespace;
    this.#tls = tls;
    this.#token = token;
    this.#agent = new https.Agent({ keepAlive: true, ...tls });
  }

  async apply(options: https.RequestOptions): Promise<void> {
    Object.assign(options, this.#tls);
    options.agent = this.#agent;
    if (this.#token) options.headers = { ...options.headers, Authorization: `Bearer ${this.#token()}` };
  }
}

/** A token read from a file, again once the copy in hand is older than `rereadMs`. */
function tokenFile(path: string, rereadMs = TOKEN_REREAD_MS): () => string {
  let token = "";
  let readAt = -Infinity;
  return () => {
    const now = Date.now();
    if (now - readAt >= rereadMs) {
      token = readFileSync(path, "utf8").trim();
      readAt = now;
    }
    return token;
  };
}

/** From explicit coordinates: a server, its CA and a bearer token. */
export function tokenAccess(server: string, caPem: string, token: string): ClusterAccess {
  return new DirectAccess(server, { ca: caPem, rejectUnauthorized: true }, () => token, undefined);
}

/** The pod's ServiceAccount, as client-go's rest.InClusterConfig finds it. */
export function inClusterAccess(
  dir = SERVICE_ACCOUNT_DIR,
  env: NodeJS.ProcessEnv = process.env,
  rereadMs = TOKEN_REREAD_MS,
): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  const namespaceFile = join(dir, "namespace");
  return new DirectAccess(
    `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    { ca: readFileSync(join(dir, "ca.crt"), "utf8"), rejectUnauthorized: true },
    tokenFile(join(dir, "token"), rereadMs),
    existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : undefined,
  );
}

interface KubeconfigCluster {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "proxy-url"?: string;
}
interface KubeconfigUser {
  token?: string;
  tokenFile?: string;
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  [other: string]: unknown;
}
interface Kubeconfig {
  "current-context"?: string;
  clusters?: { name: string; cluster?: KubeconfigCluster }[];
  users?: { name: string; user?: KubeconfigUser }[];
  contexts?: { name: string; context?: { cluster?: string; user?: string; namespace?: string } }[];
}

/** The user fields this module handles itself; a user with any other goes to client-node. */
const DIRECT_USER_FIELDS = new Set([
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
]);

/**
 * A kubeconfig file, or the default one as kubectl picks it ($KUBECONFIG, ~/.kube/config, else the
 * pod's ServiceAccount).
 */
export function kubeconfigAccess(path?: string, env = process.env): ClusterAccess {
  if (!path) {
    const list = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
    if (list.length > 1) return clientNodeAccess(undefined);
    const home = join(homedir(), ".kube", "config");
    path = list[0] ?? (existsSync(home) ? home : undefined);
    if (!path) return inClusterAccess(SERVICE_ACCOUNT_DIR, env);
  }
  const text = readFileSync(path, "utf8");
  const config = (loadYaml(text) ?? {}) as Kubeconfig;
  const contextName = config["current-context"];
  if (!contextName) throw new Error(`${path} has no current-context`);
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`${path}: context ${contextName} is not defined`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${path}: context ${contextName} names no cluster with a server`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  const indirect = Object.keys(user).some((k) => !DIRECT_USER_FIELDS.has(k));
  if (indirect || cluster["proxy-url"]) return clientNodeAccess(path, context.namespace);
  // Relative paths in a kubeconfig are relative to the file, as kubectl reads them.
  const base = dirname(path);
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : join(base, p));
  const inline = (b64: string) => Buffer.from(b64, "base64");
  const tls: Tls = { rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true };
  const ca = cluster["certificate-authority-data"]
    ? inline(cluster["certificate-authority-data"])
    : cluster["certificate-authority"]
      ? file(cluster["certificate-authority"])
      : undefined;
  if (ca) tls.ca = ca.toString("utf8");
  const cert = user["client-certificate-data"]
    ? inline(user["client-certificate-data"])
    : user["client-certificate"] && file(user["client-certificate"]);
  const key = user["client-key-data"]
    ? inline(user["client-key-data"])
    : user["client-key"] && file(user["client-key"]);
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const token = user.token
    ? () => user.token!
    : user.tokenFile
      ? tokenFile(isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile))
      : undefined;
  return new DirectAccess(cluster.server, tls, token, context.namespace);
}

/**
 * The rest, through client-node's KubeConfig, imported on first use. Its server and CA are read the
 * same way client-node reads them, lazily too: a first request pays the import.
 */
function clientNodeAccess(path: string | undefined, namespace?: string): ClusterAccess {
  type KubeConfig = import("@kubernetes/client-node").KubeConfig;
  let loaded: Promise<KubeConfig> | undefined;
  const load = () => {
    loaded ??= import("@kubernetes/client-node").then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      if (path) kc.loadFromFile(path);
      else kc.loadFromDefault();
      return kc;
    });
    return loaded;
  };
  // What a client needs synchronously (server, CA) comes from the first file's current context;
  // the merged list of $KUBECONFIG is client-node's to resolve, so a list gives its first server.
  const first = path ?? (process.env.KUBECONFIG ?? "").split(delimiter).find(Boolean);
  const config = first ? ((loadYaml(readFileSync(first, "utf8")) ?? {}) as Kubeconfig) : {};
  const context = config.contexts?.find((c) => c.name === config["current-context"])?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${first ?? "the kubeconfig"} names no current cluster`);
  const caFile = cluster["certificate-authority"];
  const caPem = cluster["certificate-authority-data"]
    ? Buffer.from(cluster["certificate-authority-data"], "base64").toString("utf8")
    : caFile && first
      ? readFileSync(isAbsolute(caFile) ? caFile : join(dirname(first), caFile), "utf8")
      : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ""),
    caPem,
    namespace: namespace ?? context?.namespace,
    async apply(options) {
      await (await load()).applyToHTTPSOptions(options);
    },
  };
}
