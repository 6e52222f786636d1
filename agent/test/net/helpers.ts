/** Fixtures for the net tests: a real HTTP proxy and real node certificates. */
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import tls from "node:tls";
import { type CertificateAndKey, createCa, issueNodeCertificate } from "../../../operator/src/pki/index.ts";

export interface TestProxy {
  url: string;
  address: string;
  /** `host:port` of every CONNECT the proxy accepted. */
  tunnels: string[];
  /** Absolute URLs of the plain-HTTP requests it forwarded. */
  forwarded: string[];
  /** Requests refused for missing or wrong credentials. */
  refused: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy: CONNECT tunnels (https targets) and absolute-form forwarding (http targets), with
 * basic credentials checked when `username` is given.
 */
export async function startTestProxy(auth?: { username: string; password: string }): Promise<TestProxy> {
  const expected = auth
    ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`
    : undefined;
  const sockets = new Set<net.Socket>();
  const state = { tunnels: [] as string[], forwarded: [] as string[], refused: 0 };
  const authorized = (req: http.IncomingMessage) =>
    !expected || req.headers["proxy-authorization"] === expected;

  const server = http.createServer((req, res) => {
    if (!authorized(req)) {
      state.refused++;
      res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="test"' }).end();
      return;
    }
    state.forwarded.push(req.url ?? "");
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = http.request(req.url ?? "", { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    if (!authorized(req)) {
      state.refused++;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    const target = req.url ?? "";
    const colon = target.lastIndexOf(":");
    const host = target.slice(0, colon).replace(/^\[|\]$/g, "");
    const upstream = net.connect(Number(target.slice(colon + 1)), host, () => {
      state.tunnels.push(target);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    get tunnels() {
      return state.tunnels;
    },
    get forwarded() {
      return state.forwarded;
    },
    get refused() {
      return state.refused;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const NOW = new Date();

export function newCa(name = "ferry-test-ca"): Promise<CertificateAndKey> {
  return createCa({ commonName: name, now: NOW, validityDays: 30 });
}

/** A node certificate as the operator issues it (operator/src/model/tls.ts nodeDnsNames). */
export function nodeCert(ca: CertificateAndKey, node: string): Promise<CertificateAndKey> {
  return issueNodeCertificate({
    ca,
    commonName: node,
    dnsNames: [node, `${node}.test`, `${node}.test.svc`, "localhost", "127.0.0.1"],
    now: NOW,
    validityDays: 7,
  });
}

/** Writes `<dir>/tls.crt`, `tls.key`, `ca.crt` like the mounted `<node>-tls` Secret. */
export async function writeTlsDir(dir: string, cert: CertificateAndKey, bundle: string): Promise<void> {
  await writeFile(join(dir, "tls.crt"), cert.certPem);
  await writeFile(join(dir, "tls.key"), cert.keyPem);
  await writeFile(join(dir, "ca.crt"), bundle);
}

export async function tlsDirFor(t: TestContext, cert: CertificateAndKey, bundle: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-net-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeTlsDir(dir, cert, bundle);
  return dir;
}

/** The serial number (hex, upper case) of the certificate a TLS server presents now. */
export function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial.toUpperCase());
    });
    socket.on("error", reject);
  });
}

/** GET over https with optional client material; resolves status and body (never throws for HTTP). */
export function httpsGet(
  url: string,
  options: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...options, agent: false, servername: "localhost" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}
