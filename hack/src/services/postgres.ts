/**
 * A real PostgreSQL server for tests: initdb into a temporary folder, then the server on a free
 * loopback port with its Unix socket in the same folder. PostgreSQL refuses to run as root, so when
 * we are root the folder is handed to the `postgres` system user and the server runs as that user.
 * Durability is traded for speed (fsync off): the data is thrown away with the folder.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "../cluster/ports.ts";
import { startProcess } from "../cluster/process.ts";
import {
  asAccount,
  chownTree,
  removeDir,
  run,
  runAs,
  saveState,
  selfSignedCertificate,
  serviceDir,
  stopServer,
  waitUntil,
} from "./service.ts";

export interface PostgresOptions {
  /** Serve TLS with a self-signed certificate (clients that verify it fail). */
  tls?: boolean;
  /** Folder of initdb and postgres; $FERRY_PG_BIN, else the Debian default. */
  bin?: string;
}

export interface PostgresServer {
  host: string;
  port: number;
  /** Folder of the Unix socket (trust authentication for local connections). */
  socketDir: string;
  /** A superuser and its password (TCP connections use scram-sha-256). */
  user: string;
  password: string;
  database: string;
  /** The certificate served when started with tls. */
  tlsCert?: string;
  dir: string;
  logFile: string;
  /** Runs SQL with psql over the socket as the superuser; returns unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

const DEFAULT_BIN = "/usr/lib/postgresql/15/bin";

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = options.bin ?? process.env.FERRY_PG_BIN ?? DEFAULT_BIN;
  const dir = await serviceDir("postgres");
  const account = await runAs("postgres");
  const data = join(dir, "data");
  const password = randomBytes(12).toString("hex");
  const logFile = join(dir, "postgres.log");
  try {
    await chmod(dir, 0o755);
    await mkdir(data, { mode: 0o700 });
    const pwfile = join(dir, "pwfile");
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    let tlsCert: string | undefined;
    const extra: string[] = [];
    if (options.tls) {
      const { cert, key } = await selfSignedCertificate(dir);
      await chownTree([cert, key], account);
      tlsCert = cert;
      extra.push("-c", "ssl=on", "-c", `ssl_cert_file=${cert}`, "-c", `ssl_key_file=${key}`);
    }
    await chownTree([dir, data, pwfile], account);
    const [initdb, initArgs] = asAccount(account, join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      `--pwfile=${pwfile}`,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ]);
    await run(initdb, initArgs);
    const port = await freePort();
    const [command, args] = asAccount(account, join(bin, "postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
      ...extra,
    ]);
    const started = startProcess("postgres", command, args, dir);
    const state = {
      kind: "postgres",
      owner: process.pid,
      pid: started.child.pid!,
      binary: "postgres",
      stopSignal: "SIGINT" as const,
    };
    await saveState(dir, state);
    const psql = async (sql: string, database = "postgres") => {
      const { stdout } = await run(join(bin, "psql"), [
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        database,
        "-c",
        sql,
      ]);
      return stdout.trim();
    };
    const stop = async () => {
      await stopServer(state);
      await removeDir(dir);
    };
    try {
      await waitUntil("postgres", started, 60_000, async () => (await psql("SELECT 1")) === "1");
    } catch (err) {
      await stopServer(state);
      throw err;
    }
    return {
      host: "127.0.0.1",
      port,
      socketDir: dir,
      user: "postgres",
      password,
      database: "postgres",
      ...(tlsCert ? { tlsCert } : {}),
      dir,
      logFile,
      psql,
      stop,
    };
  } catch (err) {
    throw new Error(`PostgreSQL failed to start (folder ${dir}): ${(err as Error).message}`);
  }
}
