/**
 * The Azure Blob client's side of the proxy settings (for the data plane's setBlobNetwork hook).
 *
 * https endpoints (Azure): the same ProxyAgent as the API server, given to the SDK as its `agent`;
 * the SDK's proxy policy steps aside for a request that already has an agent, so None, NO_PROXY
 * (CIDRs included) and the credentials behave exactly as for the API server.
 *
 * http endpoints (Azurite, an emulator): a CONNECT tunnel is the wrong tool for plain HTTP, which
 * proxies forward as absolute-URI requests; that is what the SDK does with `proxyOptions`. When
 * the decision is "direct" a plain agent is set, because without one the SDK would fall back to
 * HTTPS_PROXY/HTTP_PROXY from the environment even in mode None.
 */
import http from "node:http";
import type https from "node:https";
import type { StoragePipelineOptions } from "@azure/storage-blob";
import { type ProxyConfig, proxyFor } from "./proxy.ts";

type PipelineOptions = StoragePipelineOptions & { agent?: http.Agent };

export function blobNetworkOptions(
  config: ProxyConfig,
  httpsAgent: https.Agent,
): (endpoint: string | undefined) => StoragePipelineOptions {
  const direct = new http.Agent({ keepAlive: true });
  return (endpoint) => {
    let url: URL | undefined;
    try {
      url = endpoint ? new URL(endpoint) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || url.protocol === "https:") {
      const options: PipelineOptions = { agent: httpsAgent };
      return options;
    }
    const decision = proxyFor(config, url);
    if (decision.via === "direct") {
      const options: PipelineOptions = { agent: direct };
      return options;
    }
    const { proxy } = decision;
    const creds = proxy.credentials?.reveal();
    return {
      proxyOptions: {
        host: `${proxy.url.protocol}//${proxy.url.hostname}`,
        port: Number(proxy.address.split(":").pop()),
        ...(creds ? { username: creds.username, password: creds.password } : {}),
      },
    };
  };
}
