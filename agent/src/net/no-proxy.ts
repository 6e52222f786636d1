/**
 * NO_PROXY matching. The conventions differ between curl, Go and the Azure SDK; Ferry follows
 * Go's `golang.org/x/net/http/httpproxy` (what Kubernetes components do), plus CIDRs:
 *
 *   `*`                  every host is reached directly
 *   `example.com`        example.com and every subdomain
 *   `.example.com`       subdomains only (`*.example.com` is the same)
 *   `10.0.0.0/8`, `fd00::/8`  IP literals inside the range (names are not resolved)
 *   `10.1.2.3`, `::1`    that address
 *   `host:port`, `[::1]:443`  only that port
 *
 * Unlike Go, localhost and loopback addresses are not bypassed implicitly: an agent configured
 * with a proxy uses it for everything NO_PROXY does not name, which is also what lets the tests
 * send a loopback API server's traffic through a proxy.
 */
import { BlockList, isIP } from "node:net";

interface HostRule {
  /** Lower case, without a leading dot. */
  domain: string;
  /** Matches the domain itself, not only its subdomains. */
  exact: boolean;
  port?: number;
}

interface AddressRule {
  list: BlockList;
  port?: number;
}

export interface NoProxy {
  /** `*`: nothing goes through the proxy. */
  all: boolean;
  hosts: HostRule[];
  addresses: AddressRule[];
  /** The entries as given, for messages. */
  entries: string[];
}

function splitPort(entry: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, ...(bracketed[2] ? { port: Number(bracketed[2]) } : {}) };
  // One colon: host:port. More than one without brackets: an IPv6 literal or CIDR, no port.
  const colon = entry.indexOf(":");
  if (colon >= 0 && colon === entry.lastIndexOf(":") && /^\d+$/.test(entry.slice(colon + 1))) {
    return { host: entry.slice(0, colon), port: Number(entry.slice(colon + 1)) };
  }
  return { host: entry };
}

/** Parses a NO_PROXY value (comma or whitespace separated) or a list such as spec.proxy.noProxy. */
export function parseNoProxy(value: string | readonly string[] | undefined): NoProxy {
  const raw = typeof value === "string" ? value.split(/[\s,]+/) : [...(value ?? [])];
  const entries = raw.map((e) => e.trim().toLowerCase()).filter(Boolean);
  const result: NoProxy = { all: false, hosts: [], addresses: [], entries };
  for (const entry of entries) {
    if (entry === "*") {
      result.all = true;
      continue;
    }
    const slash = entry.indexOf("/");
    if (slash > 0) {
      const address = entry.slice(0, slash);
      const prefix = Number(entry.slice(slash + 1));
      const family = isIP(address);
      if (family && Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128)) {
        const list = new BlockList();
        list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
        result.addresses.push({ list });
      }
      // Anything else with a slash is no host name either: ignored rather than failing the agent.
      continue;
    }
    const { host, port } = splitPort(entry);
    const family = isIP(host);
    if (family) {
      const list = new BlockList();
      list.addAddress(host, family === 4 ? "ipv4" : "ipv6");
      result.addresses.push({ list, ...(port !== undefined ? { port } : {}) });
      continue;
    }
    let domain = host.startsWith("*.") ? host.slice(1) : host;
    const exact = !domain.startsWith(".");
    domain = domain.replace(/^\.+/, "").replace(/\.+$/, "");
    if (domain) result.hosts.push({ domain, exact, ...(port !== undefined ? { port } : {}) });
  }
  return result;
}

/** Whether a connection to `host:port` bypasses the proxy. `host` may be bracketed IPv6. */
export function bypassesProxy(noProxy: NoProxy, host: string, port: number): boolean {
  if (noProxy.all) return true;
  const name = host
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.$/, "");
  const family = isIP(name);
  if (family) {
    const type = family === 4 ? "ipv4" : "ipv6";
    return noProxy.addresses.some(
      (rule) => (rule.port === undefined || rule.port === port) && rule.list.check(name, type),
    );
  }
  return noProxy.hosts.some(
    (rule) =>
      (rule.port === undefined || rule.port === port) &&
      (name.endsWith(`.${rule.domain}`) || (rule.exact && name === rule.domain)),
  );
}
