/**
 * A real MariaDB server for tests: mariadb-install-db into a temporary folder, then mariadbd on a
 * free loopback port with its socket in the same folder, and an administrator account that can log
 * in over TCP with a password (root keeps socket-only access for setup).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { freePort } from "../cluster/ports.ts";
import { startProcess } from "../cluster/process.ts";
import {
  removeDir,
  run,
  saveState,
  selfSignedCertificate,
  serviceDir,
  stopServer,
  waitUntil,
} from "./service.ts";

export interface MariaDbOptions {
  /** Serve TLS with a self-signed certificate (clients that verify it fail). */
  tls?: boolean;
}

export interface MariaDbServer {
  host: string;
  port: number;
  socket: string;
  /** An administrator (all privileges, with grant option) reachable over TCP. */
  user: string;
  password: string;
  tlsCert?: string;
  dir: string;
  logFile: string;
  /** Runs SQL with the mariadb client over the socket as root; returns tab-separated rows. */
  sql(statements: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDbServer> {
  const dir = await serviceDir("mariadb");
  const data = join(dir, "data");
  const socket = join(dir, "mariadb.sock");
  const password = randomBytes(12).toString("hex");
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? ["--user=root"] : [];
  try {
    await run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${data}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      ...user,
    ]);
    const port = await freePort();
    const extra: string[] = [];
    let tlsCert: string | undefined;
    if (options.tls) {
      const { cert, key } = await selfSignedCertificate(dir);
      tlsCert = cert;
      extra.push(`--ssl-cert=${cert}`, `--ssl-key=${key}`);
    }
    const started = startProcess(
      "mariadb",
      "mariadbd",
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--pid-file=${join(dir, "mariadb.pid")}`,
        `--tmpdir=${dir}`,
        "--skip-name-resolve",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--innodb-buffer-pool-size=256M",
        "--max-connections=300",
        ...extra,
        ...user,
      ],
      dir,
    );
    const state = {
      kind: "mariadb",
      owner: process.pid,
      pid: started.child.pid!,
      binary: "mariadbd",
      stopSignal: "SIGTERM" as const,
    };
    await saveState(dir, state);
    const sql = async (statements: string, database?: string) => {
      const { stdout } = await run("mariadb", [
        "--no-defaults",
        "-uroot",
        `--socket=${socket}`,
        "-N",
        "-B",
        "-e",
        statements,
        ...(database ? [database] : []),
      ]);
      return stdout.trim();
    };
    try {
      await waitUntil("mariadbd", started, 60_000, async () => (await sql("SELECT 1")) === "1");
      await sql(
        `CREATE USER 'ferry'@'%' IDENTIFIED BY '${password}'; GRANT ALL PRIVILEGES ON *.* TO 'ferry'@'%' WITH GRANT OPTION;`,
      );
    } catch (err) {
      await stopServer(state);
      throw err;
    }
    return {
      host: "127.0.0.1",
      port,
      socket,
      user: "ferry",
      password,
      ...(tlsCert ? { tlsCert } : {}),
      dir,
      logFile: started.logFile,
      sql,
      stop: async () => {
        await stopServer(state, 20_000);
        await removeDir(dir);
      },
    };
  } catch (err) {
    throw new Error(`MariaDB failed to start (folder ${dir}): ${(err as Error).message}`);
  }
}
