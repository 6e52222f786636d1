/**
 * Ports. Every pod of a process node shares the host's loopback (there are no network namespaces),
 * so two pods cannot both listen on their declared containerPort. Each declared port of each
 * container gets a free host port of its own for the pod's lifetime (or its `hostPort`, when it
 * names one); the process learns it from `FERRY_PORT_<NAME>` and probes are sent there.
 */
import { freePort } from "../cluster/ports.ts";
import type { Container } from "./types.ts";

/** A container's ports: declared name (or the number, for unnamed ports) → host port. */
export interface PortMap {
  byName: Record<string, number>;
  byNumber: Record<number, number>;
}

/** `ops` → FERRY_PORT_OPS, `grpc-web` → FERRY_PORT_GRPC_WEB, unnamed 8080 → FERRY_PORT_8080. */
export function portEnvName(port: { name?: string; containerPort: number }): string {
  const name = port.name ? port.name.toUpperCase().replace(/[^A-Z0-9]/g, "_") : String(port.containerPort);
  return `FERRY_PORT_${name}`;
}

export async function allocatePorts(container: Container, taken: Set<number>): Promise<PortMap> {
  const map: PortMap = { byName: {}, byNumber: {} };
  for (const port of container.ports ?? []) {
    let host = port.hostPort;
    if (!host) {
      host = await freePort();
      while (taken.has(host)) host = await freePort();
    }
    taken.add(host);
    map.byNumber[port.containerPort] = host;
    if (port.name) map.byName[port.name] = host;
  }
  return map;
}

export function portEnv(container: Container, ports: PortMap): Record<string, string> {
  const env: Record<string, string> = {};
  for (const port of container.ports ?? []) {
    const host = ports.byNumber[port.containerPort];
    if (host !== undefined) env[portEnvName(port)] = String(host);
  }
  return env;
}

/**
 * Where a probe (or anything else addressing the container) connects: a port name or a declared
 * number maps to its host port; an undeclared number is taken as a host port as it is.
 */
export function resolvePort(port: number | string, ports: PortMap): number | undefined {
  if (typeof port === "number") return ports.byNumber[port] ?? port;
  if (/^\d+$/.test(port)) return resolvePort(Number(port), ports);
  return ports.byName[port];
}
