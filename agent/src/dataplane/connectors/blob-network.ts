/**
 * How the Blob connector reaches its endpoints (proxy agent, retries), set once at start by the
 * agent (agent/src/net/blob-network.ts builds it). Kept apart from azure-blob.ts so that setting it
 * does not load the Azure SDK into agents that never copy to Blob.
 */
import type { StoragePipelineOptions } from "@azure/storage-blob";

let blobNetwork: (endpoint: string | undefined) => StoragePipelineOptions = () => ({});

export function setBlobNetwork(options: (endpoint: string | undefined) => StoragePipelineOptions): void {
  blobNetwork = options;
}

/** The pipeline options for an endpoint; the SDK's defaults when nothing was set. */
export function blobNetworkFor(endpoint: string | undefined): StoragePipelineOptions {
  return blobNetwork(endpoint);
}
