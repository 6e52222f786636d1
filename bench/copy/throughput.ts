/**
 * Copy throughput on this machine (not a test; bench/ material): a table of ROWS rows (default
 * 3,000,000) in PostgreSQL and MariaDB, copied to Azurite and to a local folder in each format.
 *
 *   node agent/test/dataplane/fixtures/throughput.ts            # ROWS=5000000 FORMATS=Csv,Parquet ...
 *
 * Prints rows/s and MB/s of output per run, and the copy's own progress rates.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import type { StoreConfig } from "@ferry/agent/dataplane";
import { runCopy } from "@ferry/agent/dataplane";
import { startAzurite, startMariaDb, startPostgres } from "@ferry/hack/services";
import mysql from "mysql2/promise";
import pg from "pg";

const ROWS = Number(process.env.ROWS ?? 3_000_000);
const FORMATS = (process.env.FORMATS ?? "Csv,CsvGzip,JsonLines,Parquet").split(",");
const SOURCES = (process.env.SOURCES ?? "PostgreSQL,MariaDB").split(",");
const SINKS = (process.env.SINKS ?? "AzureBlob,FileShare").split(",");
const PARALLELISM = Number(process.env.PARALLELISM ?? 4);

const [pgServer, maria, azurite] = await Promise.all([startPostgres(), startMariaDb(), startAzurite()]);
const share = await mkdtemp(join(tmpdir(), "ferry-throughput-"));
try {
  const t0 = performance.now();
  const client = new pg.Client({
    host: pgServer.host,
    port: pgServer.port,
    user: pgServer.user,
    password: pgServer.password,
    database: "postgres",
  });
  await client.connect();
  await client.query(`CREATE TABLE items (id bigint PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, flag boolean, code uuid);
    INSERT INTO items SELECT g, 'customer name ' || g, (g % 100000) * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, md5(g::text)::uuid
    FROM generate_series(1, ${ROWS}) g; ANALYZE items`);
  await client.end();
  console.log(`PostgreSQL: ${ROWS} rows loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const t1 = performance.now();
  const my = await mysql.createConnection({
    host: maria.host,
    port: maria.port,
    user: maria.user,
    password: maria.password,
    multipleStatements: true,
  });
  await my.query(`CREATE DATABASE bench; USE bench; SET time_zone = '+00:00';
    CREATE TABLE items (id bigint PRIMARY KEY, name text, amount decimal(12,2), created timestamp(6) NULL, flag boolean, code char(36));
    INSERT INTO items SELECT seq, CONCAT('customer name ', seq), (seq % 100000) * 1.25, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0, UUID()
    FROM seq_1_to_${ROWS}; ANALYZE TABLE items`);
  await my.end();
  console.log(`MariaDB: ${ROWS} rows loaded in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const sources: Record<string, StoreConfig> = {
    PostgreSQL: {
      type: "PostgreSQL",
      connection: { host: pgServer.host, port: pgServer.port, database: "postgres", tlsMode: "Disable" },
      credentials: { username: pgServer.user, password: pgServer.password },
    },
    MariaDB: {
      type: "MySQL",
      connection: { host: maria.host, port: maria.port, database: "bench", tlsMode: "Disable" },
      credentials: { username: maria.user, password: maria.password },
    },
  };
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("bench").create();
  const sinks: Record<string, StoreConfig> = {
    AzureBlob: {
      type: "AzureBlob",
      connection: { accountUrl: azurite.blobEndpoint, container: "bench" },
      credentials: { accountKey: azurite.accountKey },
    },
    FileShare: { type: "FileShare", connection: { path: share } },
  };
  console.log("source\tsink\tformat\trows/s\tMB/s out\tseconds\tbytes");
  for (const sourceName of SOURCES) {
    for (const sinkName of SINKS) {
      for (const f of FORMATS) {
        const format = f.startsWith("Csv") ? "Csv" : (f as "JsonLines" | "Parquet");
        const compression = f === "CsvGzip" ? "Gzip" : format === "Parquet" ? "Snappy" : "None";
        const started = performance.now();
        const r = await runCopy({
          job: {
            uid: randomUUID(),
            name: "bench",
            spec: {
              gatewayRef: { name: "gw" },
              source: {
                dataStoreRef: { name: "s" },
                table: "items",
                partitioning: { mode: "Column", column: "id", count: 8 },
              },
              sink: {
                dataStoreRef: { name: "k" },
                path: `${sourceName}-${f}-${randomUUID().slice(0, 8)}`,
                format,
                compression,
              },
              parallelism: PARALLELISM,
            },
          },
          source: sources[sourceName]!,
          sink: sinks[sinkName]!,
          attempt: 1,
        });
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `${sourceName}\t${sinkName}\t${f}\t${Math.round(r.output.rows! / seconds)}\t${(r.output.bytes! / seconds / 1e6).toFixed(1)}\t${seconds.toFixed(1)}\t${r.output.bytes}`,
        );
        if (sinkName === "FileShare")
          await rm(join(share, r.manifest.parts[0]!.file, ".."), { recursive: true, force: true }).catch(
            () => {},
          );
      }
    }
  }
} finally {
  await Promise.all([pgServer.stop(), maria.stop(), azurite.stop()]);
  await rm(share, { recursive: true, force: true });
}
