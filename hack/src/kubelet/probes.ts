/**
 * One probe attempt, as kubelet makes it: httpGet succeeds on a status from 200 to 399 (HTTPS
 * without verifying the certificate, as kubelet does), tcpSocket on an accepted connection, exec on
 * exit code 0 (the command runs in the container's mount namespace, through `nsenter`). The port is
 * the container's host port (see ports.ts): a probe of `ops` reaches the process's FERRY_PORT_OPS.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import https from "node:https";
import { connect } from "node:net";
import { hostExecutable } from "./supervisor.ts";
import { POD_IP, type Probe } from "./types.ts";

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export interface ProbeTarget {
  port(port: number | string): number | undefined;
  /** For exec probes: the command line of `command` as the image map resolves it, and the env. */
  exec?(command: string[]): { argv: string[]; env: Record<string, string> } | undefined;
  /** For exec probes: the main process, whose namespaces the command joins. */
  pid?: number;
}

const fail = (message: string): ProbeResult => ({ ok: false, message });

function httpProbe(
  probe: NonNullable<Probe["httpGet"]>,
  port: number,
  timeoutMs: number,
): Promise<ProbeResult> {
  const scheme = probe.scheme ?? "HTTP";
  const host = probe.host || POD_IP;
  const path = probe.path ?? "/";
  const url = `${scheme.toLowerCase()}://${host}:${port}${path.startsWith("/") ? path : `/${path}`}`;
  const headers: Record<string, string> = { "User-Agent": "kube-probe/1.34", Accept: "*/*" };
  for (const h of probe.httpHeaders ?? []) headers[h.name] = h.value;
  return new Promise((resolve) => {
    const get = scheme === "HTTPS" ? https.get : http.get;
    const req = get(url, { headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(
        code >= 200 && code < 400
          ? { ok: true, message: `HTTP ${code}` }
          : fail(`HTTP probe failed with statuscode: ${code}`),
      );
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(
        fail(`Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`),
      );
    });
    req.on("error", (err) => resolve(fail(`Get "${url}": ${err.message}`)));
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.on("connect", () => {
      socket.destroy();
      resolve({ ok: true, message: "connected" });
    });
    socket.on("timeout", () => {
      socket.destroy();
      resolve(fail(`dial tcp ${host}:${port}: i/o timeout`));
    });
    socket.on("error", (err) => resolve(fail(`dial tcp ${host}:${port}: ${err.message}`)));
  });
}

function execProbe(command: string[], target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const resolved = target.exec?.(command);
  if (!resolved || target.pid === undefined)
    return Promise.resolve(fail("exec probe: the container is not running"));
  // --root and --wd without a folder: the target's own (it may run chrooted, see mount-plan.ts).
  const argv = ["--target", String(target.pid), "--mount", "--uts", "--root", "--wd", "--", ...resolved.argv];
  return new Promise((resolve) => {
    execFile(
      hostExecutable("nsenter"),
      argv,
      { env: resolved.env, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim().slice(0, 1024);
        resolve(
          err
            ? fail(`command ${JSON.stringify(command)} failed: ${output || err.message}`)
            : { ok: true, message: output },
        );
      },
    );
  });
}

export async function runProbe(probe: Probe, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const port = target.port(probe.httpGet.port);
    if (port === undefined) return fail(`httpGet: no port named ${JSON.stringify(probe.httpGet.port)}`);
    return httpProbe(probe.httpGet, port, timeoutMs);
  }
  if (probe.tcpSocket) {
    const port = target.port(probe.tcpSocket.port);
    if (port === undefined) return fail(`tcpSocket: no port named ${JSON.stringify(probe.tcpSocket.port)}`);
    return tcpProbe(probe.tcpSocket.host || POD_IP, port, timeoutMs);
  }
  if (probe.exec?.command?.length) return execProbe(probe.exec.command, target, timeoutMs);
  return fail("probe type not supported by the process runtime (httpGet, tcpSocket and exec are)");
}
