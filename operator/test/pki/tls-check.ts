import type { AddressInfo } from "node:net";
import { connect, createServer } from "node:tls";

/** What one node holds in its `<node>-tls` Secret. */
export interface NodeTls {
  certPem: string;
  keyPem: string;
  /** ca.crt: the bundle the node trusts. */
  caPem: string;
}

/**
 * A real mutual TLS handshake on loopback between two nodes, as the peer endpoint does it: each
 * side presents its certificate and verifies the other's against its own trust bundle (the client
 * also checks the server's name, 127.0.0.1). Resolves with the first failure, or undefined when
 * both sides accepted each other.
 */
export async function mutualTls(server: NodeTls, client: NodeTls): Promise<string | undefined> {
  const tlsServer = createServer({
    cert: server.certPem,
    key: server.keyPem,
    ca: server.caPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
  const { port } = tlsServer.address() as AddressInfo;
  try {
    return await new Promise<string | undefined>((resolve) => {
      let serverAccepted = false;
      let clientAccepted = false;
      const done = (error?: string) => {
        clearTimeout(timer);
        resolve(error);
      };
      const timer = setTimeout(() => done("timeout"), 5000);
      tlsServer.on("secureConnection", (socket) => {
        serverAccepted = true;
        socket.end();
        if (clientAccepted) done();
      });
      tlsServer.on("tlsClientError", (err) => done(`server rejected the client: ${err.message}`));
      const socket = connect({
        host: "127.0.0.1",
        port,
        cert: client.certPem,
        key: client.keyPem,
        ca: client.caPem,
        rejectUnauthorized: true,
      });
      socket.on("secureConnect", () => {
        clientAccepted = true;
        if (serverAccepted) done();
      });
      socket.on("error", (err) => done(`client: ${err.message}`));
      socket.on("data", () => {});
      socket.on("end", () => socket.end());
    });
  } finally {
    tlsServer.close();
  }
}

/** Every ordered pair of nodes handshakes; returns the failures as "a→b: why". */
export async function allPairsHandshake(nodes: Map<string, NodeTls>): Promise<string[]> {
  const failures: string[] = [];
  for (const [serverName, server] of nodes) {
    for (const [clientName, client] of nodes) {
      if (serverName === clientName) continue;
      const error = await mutualTls(server, client);
      if (error) failures.push(`${clientName}→${serverName}: ${error}`);
    }
  }
  return failures;
}
