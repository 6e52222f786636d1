/**
 * What the database and storage servers used by tests have in common: a private temporary folder
 * (data, sockets, logs, certificates), a state file naming the process that owns the server, and a
 * clean stop. A test run killed with SIGKILL leaves its servers behind; the next start reaps the
 * servers whose owner is gone, as the control plane harness does for clusters.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { isAlive, runs, type Started, stopPids } from "../cluster/process.ts";

export const run = promisify(execFile);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Prefix of every service folder under the temporary directory; the reaper looks for it. */
export const SERVICE_DIR_PREFIX = "ferry-svc-";
const STATE_FILE = "service.json";

export interface ServiceState {
  kind: string;
  /** The test process that started the server; null once it stopped it. */
  owner: number;
  pid: number;
  /** The server's executable name, so a reused pid is never signalled. */
  binary: string;
  /** Signal for a fast, clean shutdown (PostgreSQL: SIGINT). */
  stopSignal: NodeJS.Signals;
}

export async function serviceDir(kind: string): Promise<string> {
  await reapOrphanServices();
  return mkdtemp(join(tmpdir(), `${SERVICE_DIR_PREFIX}${kind}-`));
}

export async function saveState(dir: string, state: ServiceState): Promise<void> {
  await writeFile(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

async function readState(dir: string): Promise<ServiceState | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as ServiceState;
  } catch {
    return undefined;
  }
}

/** Stops the server with its own clean-shutdown signal, then SIGKILL after `graceMs`. */
export async function stopServer(state: ServiceState, graceMs = 10_000): Promise<void> {
  if (!runs(state.pid, state.binary)) return;
  try {
    process.kill(state.pid, state.stopSignal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(state.pid) && Date.now() < deadline) await sleep(50);
  await stopPids([state.pid].filter(isAlive), 0);
}

/** Kills servers whose owning test process died without stopping them, and removes their folders. */
export async function reapOrphanServices(root = tmpdir()): Promise<number> {
  let reaped = 0;
  const entries = existsSync(root) ? await readdir(root) : [];
  for (const entry of entries.filter((e) => e.startsWith(SERVICE_DIR_PREFIX))) {
    const dir = join(root, entry);
    const state = await readState(dir);
    if (!state || isAlive(state.owner)) continue;
    await stopServer(state, 2000);
    await rm(dir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}

/** Waits until `test` passes, failing early with the log's tail when the server exits. */
export async function waitUntil(
  what: string,
  started: Started,
  timeoutMs: number,
  test: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) {
      throw new Error(
        `${what} exited (${started.child.exitCode ?? started.child.signalCode}):\n${await tail(started.logFile)}`,
      );
    }
    if (await test().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s:\n${await tail(started.logFile)}`);
}

export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, "utf8")).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** True when something accepts TCP connections on the port. */
export function tcpOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * The account a server that refuses root runs as: its own system user when we are root (PostgreSQL
 * refuses to run as root), else ourselves.
 */
export async function runAs(user: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { stdout } = await run("id", ["-u", user]).catch(() => ({ stdout: "" }));
  const { stdout: g } = await run("id", ["-g", user]).catch(() => ({ stdout: "" }));
  if (!stdout.trim()) throw new Error(`running as root, but there is no "${user}" user to run the server as`);
  return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
}

/** Command and arguments that run `binary` as `account` (setpriv execs, so the pid is the server's). */
export function asAccount(
  account: { uid: number; gid: number } | undefined,
  binary: string,
  args: string[],
): [string, string[]] {
  if (!account) return [binary, args];
  return [
    "setpriv",
    [`--reuid=${account.uid}`, `--regid=${account.gid}`, "--clear-groups", "--", binary, ...args],
  ];
}

export async function chownTree(paths: string[], account: { uid: number; gid: number } | undefined) {
  if (!account) return;
  for (const p of paths) await chown(p, account.uid, account.gid);
}

/**
 * A self-signed certificate for localhost and 127.0.0.1, so tests can exercise TLS, including the
 * failure of certificate verification.
 */
export async function selfSignedCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "server.crt");
  const key = join(dir, "server.key");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  await chmod(key, 0o600);
  return { cert, key };
}

/** Removes a service folder; servers write into it until they exit, so retry briefly. */
export async function removeDir(dir: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    try {
      await rm(dir, { recursive: true, force: true });
      return;
    } catch {
      await sleep(100);
    }
  }
}
