/**
 * The node's own endpoint (design "Agent": node TLS): `/healthz`, `/readyz` and `/metrics` for
 * probes and scrapers, and `/peer` for the other nodes of the gateway, over TLS with the node
 * certificate.
 *
 * Client certificates are requested but only `/peer` requires one, verified against the gateway's
 * CA bundle (`ca.crt`): the kubelet's probes and Prometheus cannot present a node certificate, and
 * what they read is not secret. A peer is any holder of a certificate from the bundle, which is
 * exactly "a node of this gateway".
 *
 * Rotation: the operator (or cert-manager) rewrites `<node>-tls` and the kubelet swaps the mounted
 * files in place. The directory is watched, and polled as a fallback (watches miss events on some
 * volume types); a changed set is validated and installed with `setSecureContext`, so new
 * connections get the new certificate and bundle while the server and open connections stay up. A
 * half-written set (the new certificate with the old key) fails validation and is kept out until
 * the next change completes it.
 *
 * With no `tlsDir` (spec.tls.mode Disabled) the same routes are served over plain HTTP.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { type FSWatcher, watch } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import type { Logger } from "@ferry/common/log";
import { type Metrics, opsRequestListener } from "@ferry/common/runtime";
import { readTlsDir, type TlsMaterial } from "./tls-files.ts";

export const DEFAULT_RELOAD_INTERVAL_MS = 30_000;
/** Lets a multi-file update (certificate, then key) finish before reading. */
const WATCH_DEBOUNCE_MS = 100;

export interface PeerServerOptions {
  /** FERRY_TLS_DIR; undefined when TLS is Disabled: plain HTTP. */
  tlsDir?: string;
  /** 0 picks a free port (tests); the chosen one is `PeerServer.port`. */
  port: number;
  host?: string;
  metrics: Metrics;
  /** Readiness (registered, heartbeat running). Not ready is a 503. */
  ready: () => boolean;
  healthy?: () => boolean;
  /** This node's name and version, as `/peer` reports them. */
  node: string;
  version: string;
  log?: Logger;
  /** How often the TLS files are re-read even without a watch event. */
  reloadIntervalMs?: number;
}

export interface PeerServer {
  readonly port: number;
  readonly tls: boolean;
  /** Re-reads the TLS files now; true when a new certificate or bundle was installed. */
  reload(): Promise<boolean>;
  /** Stops accepting, lets in-flight responses finish (at most `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

export interface PeerInfo {
  node: string;
  version: string;
}

const fingerprint = (m: TlsMaterial) =>
  createHash("sha256").update(m.cert).update(m.key).update(m.ca).digest("hex");

function handler(options: PeerServerOptions, secure: boolean): http.RequestListener {
  return opsRequestListener(options, {
    "/peer": (req, reply) => {
      if (secure) {
        const socket = req.socket as tls.TLSSocket;
        if (!socket.authorized) {
          const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
          const why = presented
            ? `the client certificate is not trusted (${String(socket.authorizationError)})`
            : "a client certificate from the gateway's CA is required";
          return reply(401, "text/plain", `${why}\n`);
        }
      }
      const body: PeerInfo = { node: options.node, version: options.version };
      return reply(200, "application/json", JSON.stringify(body));
    },
  });
}

export async function startPeerServer(options: PeerServerOptions): Promise<PeerServer> {
  const log = options.log;
  const reloads = options.metrics.counter(
    "ferry_agent_tls_reloads_total",
    "Node TLS material reloads by result (installed, invalid, unreadable)",
    ["result"],
  );
  let server: http.Server | https.Server;
  let current = "";
  let reload = async () => false;
  const timers: { watcher?: FSWatcher; poll?: NodeJS.Timeout; debounce?: NodeJS.Timeout } = {};

  const tlsDir = options.tlsDir;
  if (tlsDir) {
    const material = await readTlsDir(tlsDir);
    current = fingerprint(material);
    const secure = https.createServer(
      {
        cert: material.cert,
        key: material.key,
        ca: material.ca,
        requestCert: true,
        rejectUnauthorized: false,
      },
      handler(options, true),
    );
    server = secure;
    let running: Promise<boolean> | undefined;
    const doReload = async (): Promise<boolean> => {
      let next: TlsMaterial;
      try {
        next = await readTlsDir(tlsDir);
      } catch (err) {
        reloads.inc({ result: "unreadable" });
        log?.warn(
          { err: String(err), dir: tlsDir },
          "cannot read the node TLS files; keeping the current ones",
        );
        return false;
      }
      const print = fingerprint(next);
      if (print === current) return false;
      try {
        // Throws on a key that does not match the certificate: a rotation half written.
        tls.createSecureContext({ cert: next.cert, key: next.key, ca: next.ca });
        secure.setSecureContext({ cert: next.cert, key: next.key, ca: next.ca });
      } catch (err) {
        reloads.inc({ result: "invalid" });
        log?.warn(
          { err: String(err), dir: tlsDir },
          "the node TLS files do not form a valid set yet; keeping the current ones",
        );
        return false;
      }
      current = print;
      reloads.inc({ result: "installed" });
      log?.info({ dir: tlsDir }, "installed the renewed node certificate and CA bundle");
      return true;
    };
    // One reload at a time; a change during a reload is picked up by the next event or poll.
    reload = () => {
      running ??= doReload().finally(() => {
        running = undefined;
      });
      return running;
    };
    try {
      timers.watcher = watch(tlsDir, () => {
        clearTimeout(timers.debounce);
        timers.debounce = setTimeout(() => void reload(), WATCH_DEBOUNCE_MS);
      });
      timers.watcher.on("error", () => timers.watcher?.close());
    } catch {
      // No watch on this file system: the poll below still notices the change.
    }
    timers.poll = setInterval(() => void reload(), options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS);
    timers.poll.unref();
  } else {
    server = http.createServer(handler(options, false));
  }

  server.listen(options.port, options.host);
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    tls: tlsDir !== undefined,
    reload: () => reload(),
    close: async (graceMs = 5_000) => {
      timers.watcher?.close();
      clearInterval(timers.poll);
      clearTimeout(timers.debounce);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
    },
  };
}
