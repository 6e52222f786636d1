/**
 * A real Azurite blob service for tests, on a free loopback port with its workspace in a temporary
 * folder, and the well-known development account.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { freePort } from "../cluster/ports.ts";
import { startProcess } from "../cluster/process.ts";
import {
  removeDir,
  saveState,
  selfSignedCertificate,
  serviceDir,
  stopServer,
  tcpOpen,
  waitUntil,
} from "./service.ts";

/** Azurite's fixed development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteOptions {
  /** Keep blobs in memory instead of the folder (default true: faster, gone at stop anyway). */
  inMemory?: boolean;
  /** Serve HTTPS with a self-signed certificate (clients that verify it fail). */
  tls?: boolean;
}

export interface AzuriteServer {
  accountName: string;
  accountKey: string;
  /** The blob service URL of the account, such as http://127.0.0.1:PORT/devstoreaccount1. */
  blobEndpoint: string;
  connectionString: string;
  port: number;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const dir = await serviceDir("azurite");
  const main = join(
    dirname(createRequire(import.meta.url).resolve("azurite/package.json")),
    "dist/src/blob/main.js",
  );
  const port = await freePort();
  const args = [
    main,
    "--blobHost",
    "127.0.0.1",
    "--blobPort",
    String(port),
    "--silent",
    "--skipApiVersionCheck",
    "--disableTelemetry",
  ];
  args.push(...((options.inMemory ?? true) ? ["--inMemoryPersistence"] : ["--location", dir]));
  let scheme = "http";
  if (options.tls) {
    const { cert, key } = await selfSignedCertificate(dir);
    args.push("--cert", cert, "--key", key);
    scheme = "https";
  }
  const started = startProcess("azurite", process.execPath, args, dir);
  const state = {
    kind: "azurite",
    owner: process.pid,
    pid: started.child.pid!,
    binary: "node",
    stopSignal: "SIGTERM" as const,
  };
  await saveState(dir, state);
  try {
    await waitUntil("azurite", started, 60_000, () => tcpOpen(port));
  } catch (err) {
    await stopServer(state);
    throw new Error(`Azurite failed to start (folder ${dir}): ${(err as Error).message}`);
  }
  const blobEndpoint = `${scheme}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    port,
    dir,
    logFile: started.logFile,
    stop: async () => {
      await stopServer(state);
      await removeDir(dir);
    },
  };
}
