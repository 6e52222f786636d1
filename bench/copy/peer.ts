/**
 * What Ferry is compared with, on the same table and the same Azurite, in the same run:
 *
 * - the peer: dlt (PyPI), a widely used open-source loader, with its sql_table source (pyarrow
 *   backend, its fastest) into its filesystem destination on the blob container. It lives in a
 *   virtualenv under ~/.cache/ferry/bench, installed on first use with pinned versions.
 * - the floor: what a person scripts in a minute — `psql \copy ... to stdout` piped into the SDK's
 *   uploadStream. It writes one CSV and proves nothing about it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ContainerClient } from "@azure/storage-blob";
import type { AzuriteServer, PostgresServer } from "@ferry/hack/services";
import type { Measured } from "./limits.ts";

const DLT_PACKAGES = [
  "dlt[az,parquet]==1.31.0",
  "sqlalchemy==2.1.9",
  "psycopg2-binary==2.9.13",
  "pyarrow==26.0.1",
  "adlfs==2026.8.0",
];
const SCRIPT = fileURLToPath(new URL("./peer_dlt.py", import.meta.url));

function cacheDir(): string {
  const cache = process.env.FERRY_CACHE ?? join(process.env.HOME ?? "/tmp", ".cache", "ferry");
  return join(cache, "bench");
}

function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${stderr.slice(-3000)}`)),
    );
  });
}

/** The venv's python, after installing dlt into it when it is not there yet. */
export async function ensureDlt(log: (m: string) => void): Promise<string> {
  const venv = join(cacheDir(), "dlt-1.31.0");
  const python = join(venv, "bin", "python");
  if (
    existsSync(python) &&
    (await run(python, ["-c", "import dlt, adlfs, sqlalchemy, psycopg2"]).then(
      () => true,
      () => false,
    ))
  )
    return python;
  log(`installing dlt into ${venv} (first run only)`);
  await mkdir(cacheDir(), { recursive: true });
  await rm(venv, { recursive: true, force: true });
  await run("python3", ["-m", "venv", venv]);
  await run(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...DLT_PACKAGES]);
  return python;
}

export type DltFormat = "csv" | "jsonl" | "parquet";

/** One dlt pipeline run of the whole table; its own timing (after Python's imports). */
export async function runDlt(
  python: string,
  pg: PostgresServer,
  database: string,
  table: string,
  azurite: AzuriteServer,
  container: string,
  format: DltFormat,
): Promise<Measured & { rows: number }> {
  const work = join(cacheDir(), "dlt-work");
  await rm(work, { recursive: true, force: true });
  const url = `postgresql+psycopg2://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/${database}`;
  const { stdout } = await run(
    python,
    [SCRIPT, url, table, `az://${container}/dlt-${format}`, format, work],
    {
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AZURE_STORAGE_ACCOUNT: azurite.accountName,
      AZURE_STORAGE_KEY: azurite.accountKey,
      // dlt gzips text files by default; Ferry's files here are not compressed, so neither are its.
      DATA_WRITER__DISABLE_COMPRESSION: "true",
    },
  );
  await rm(work, { recursive: true, force: true });
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { seconds: number; rows: number; bytes: number };
  return { seconds: r.seconds, bytes: r.bytes, rows: r.rows };
}

/** The floor: psql's \copy to stdout, piped into uploadStream (8 MiB buffers, 4 at once). */
export async function runFloor(
  pg: PostgresServer,
  database: string,
  table: string,
  container: ContainerClient,
): Promise<Measured> {
  const bin = process.env.FERRY_PG_BIN ?? "/usr/lib/postgresql/15/bin";
  const name = `floor-${Date.now()}.csv`;
  const started = performance.now();
  const psql = spawn(
    join(bin, "psql"),
    [
      "-X",
      "-h",
      pg.socketDir,
      "-p",
      String(pg.port),
      "-U",
      "postgres",
      "-d",
      database,
      "-c",
      `\\copy ${table} to stdout with (format csv)`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<number | null>((resolve) => psql.on("exit", resolve));
  const blob = container.getBlockBlobClient(name);
  await blob.uploadStream(psql.stdout, 8 << 20, 4);
  if ((await exited) !== 0) throw new Error("psql \\copy failed");
  const seconds = (performance.now() - started) / 1000;
  const bytes = (await blob.getProperties()).contentLength ?? 0;
  await blob.delete();
  return { seconds, bytes };
}
