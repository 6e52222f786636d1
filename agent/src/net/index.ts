/** The agent's network edge: outbound proxy, the node's TLS endpoint, peer checks. */
export { blobNetworkOptions } from "./blob-network.ts";
export { bypassesProxy, type NoProxy, parseNoProxy } from "./no-proxy.ts";
export {
  DEFAULT_PEER_PORT,
  defaultPeerHost,
  PEER_ENDPOINT_ANNOTATION,
  peerEndpointAnnotation,
  peerEndpointsFromLeases,
  peerEndpointUrl,
} from "./peer-endpoint.ts";
export { type PeerInfo, type PeerServer, type PeerServerOptions, startPeerServer } from "./peer-server.ts";
export {
  DEFAULT_PEER_TIMEOUT_MS,
  PEERS_REACHABLE,
  type PeerProbeResult,
  type PeerTarget,
  type ProbePeersOptions,
  peersReachableCondition,
  probeFailureReason,
  probePeers,
  type UnreachablePeer,
} from "./peers.ts";
export {
  describeProxy,
  type ProxyConfig,
  ProxyConfigError,
  ProxyCredentials,
  type ProxyDecision,
  type ProxyMode,
  type ProxyOverrides,
  type ProxyServer,
  parseProxyUrl,
  proxyConfig,
  proxyFor,
} from "./proxy.ts";
export {
  openTunnel,
  ProxyAgent,
  type ProxyAgentOptions,
  ProxyError,
  type ProxyErrorReason,
  proxyAgent,
} from "./proxy-agent.ts";
export { readTlsDir, TLS_FILES, type TlsMaterial } from "./tls-files.ts";
