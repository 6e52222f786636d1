/**
 * Who this agent is and how it talks to the API server: the pod's ServiceAccount (in-cluster
 * config), a registration key (external node) or a kubeconfig (development). The first request
 * (reading the LogicalGateway) doubles as the check of the identity, so that a rotated, foreign or
 * malformed key ends the process with one clear line instead of a stack trace.
 */
import { readFile } from "node:fs/promises";
import {
  connect,
  connectWithToken,
  decodeRegistrationKey,
  type Kube,
  KubeError,
  RegistrationKeyError,
} from "@ferry/common";
import type { LogicalGateway } from "@ferry/crds";
import type { AgentConfig } from "./config.ts";
import { setBlobNetwork } from "./dataplane/connectors/blob-network.ts";
import { API_VERSION } from "./names.ts";
import { blobNetworkOptions, ProxyAgent, ProxyConfigError, proxyConfig } from "./net/index.ts";

/** An error that ends the agent with one line on stderr and `exitCode`. */
export class FatalError extends Error {
  override readonly name = "FatalError";
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const EXIT = { usage: 64, key: 3, duplicate: 4, lost: 5 } as const;

export interface Identity {
  kube: Kube;
  namespace: string;
  gateway: string;
  /** How it was obtained, for the log. */
  source: "key" | "kubeconfig" | "in-cluster";
  gatewayObject: LogicalGateway;
}

export async function resolveIdentity(config: AgentConfig): Promise<Identity> {
  let kube: Kube;
  let namespace = config.namespace;
  let gateway = config.gateway;
  let source: Identity["source"];
  if (config.key !== undefined || config.keyFile !== undefined) {
    let text = config.key;
    if (text === undefined) {
      try {
        text = await readFile(config.keyFile!, "utf8");
      } catch (err) {
        throw new FatalError(
          `cannot read the key file ${config.keyFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
          EXIT.key,
        );
      }
    }
    let key: ReturnType<typeof decodeRegistrationKey>;
    try {
      key = decodeRegistrationKey(text);
    } catch (err) {
      if (err instanceof RegistrationKeyError) throw new FatalError(err.message, EXIT.key);
      throw err;
    }
    if (gateway && gateway !== key.gateway) {
      throw new FatalError(`the registration key is for gateway ${key.gateway}, not ${gateway}`, EXIT.key);
    }
    if (namespace && namespace !== key.namespace) {
      throw new FatalError(
        `the registration key is for namespace ${key.namespace}, not ${namespace}`,
        EXIT.key,
      );
    }
    namespace = key.namespace;
    gateway = key.gateway;
    try {
      kube = connectWithToken(key.server, key.ca, key.token, { agent: outbound() });
    } catch (err) {
      if (err instanceof FatalError) throw err;
      throw new FatalError("the registration key is malformed: its server or CA cannot be used", EXIT.key);
    }
    source = "key";
  } else {
    try {
      // In a pod the API server is inside the cluster: no proxy on the way to it (the Blob client
      // and other outbound connections still follow the proxy settings).
      const agent = outbound();
      kube = config.kubeconfig ? connect(config.kubeconfig, { agent }) : connect();
    } catch (err) {
      if (err instanceof FatalError) throw err;
      throw new FatalError(`cannot load the cluster configuration: ${(err as Error).message}`, EXIT.key);
    }
    source = config.kubeconfig ? "kubeconfig" : "in-cluster";
  }
  if (!namespace || !gateway) {
    throw new FatalError(
      "the gateway is unknown: give --key, or FERRY_NAMESPACE and FERRY_GATEWAY (--namespace, --gateway)",
      EXIT.usage,
    );
  }
  let gatewayObject: LogicalGateway | undefined;
  try {
    gatewayObject = await kube.get<LogicalGateway>({
      apiVersion: API_VERSION,
      kind: "LogicalGateway",
      namespace,
      name: gateway,
    });
  } catch (err) {
    throw identityError(err, namespace, gateway);
  }
  if (!gatewayObject) throw new FatalError(`gateway ${namespace}/${gateway} does not exist`, EXIT.key);
  return { kube, namespace, gateway, source, gatewayObject };
}

/** What an agent whose credentials are refused says, at start or later (heartbeat.ts). */
export const REVOKED_MESSAGE =
  "the API server refused the credentials (401): the registration key was rotated or revoked; get the current key with `ferry register`";

function identityError(err: unknown, namespace: string, gateway: string): FatalError {
  if (err instanceof KubeError && err.code === 401) return new FatalError(REVOKED_MESSAGE, EXIT.key);
  if (err instanceof KubeError && err.code === 403) {
    return new FatalError(
      `the credentials do not grant access to gateway ${namespace}/${gateway} (403): the key belongs to another gateway`,
      EXIT.key,
    );
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  return new FatalError(`cannot reach the API server: ${code ?? (err as Error)?.message ?? err}`, EXIT.key);
}

let proxyAgent: ProxyAgent | undefined;

/**
 * The agent for outbound HTTPS: the gateway's proxy settings (FERRY_PROXY_MODE and the proxy
 * variables) decide, per connection and NO_PROXY, whether to tunnel through the proxy. Also given
 * to the Blob client, so every outbound connection follows the same rule.
 */
export function outbound(env: NodeJS.ProcessEnv = process.env): ProxyAgent {
  if (proxyAgent) return proxyAgent;
  try {
    const config = proxyConfig(env);
    proxyAgent = new ProxyAgent(config, { keepAlive: true });
    setBlobNetwork(blobNetworkOptions(config, proxyAgent));
    return proxyAgent;
  } catch (err) {
    if (err instanceof ProxyConfigError) throw new FatalError(err.message, EXIT.usage);
    throw err;
  }
}
