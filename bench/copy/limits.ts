/**
 * What this machine allows, measured in the same run as Ferry so the ratios compare like with like:
 * (a) the source alone, (b) the sink alone, (c) the minimal pipe between them. None of them parses
 * a byte: they are what any mover of this table, between these two servers, cannot beat.
 */
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import type { AzuriteServer, PostgresServer } from "@ferry/hack/services";
import pg from "pg";
import pgCopy from "pg-copy-streams";
import {
  agentMadeText,
  copyStatement,
  PostgresSource,
  postgresSelect,
} from "../../agent/src/dataplane/connectors/postgres.ts";
import { csvDialect } from "../../agent/src/dataplane/formats/csv.ts";

export interface Measured {
  seconds: number;
  bytes: number;
}

export function pgClient(server: PostgresServer, database: string): pg.Client {
  return new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database,
  });
}

/** The plain COPY of the table: no projection, PostgreSQL's own text for every type. */
export const copySql = (table: string) => `COPY ${table} TO STDOUT WITH (FORMAT csv)`;

/**
 * (a) COPY TO STDOUT read to the end and dropped. `keep` collects the bytes for (b). `sql`, when
 * given, is another COPY of the same rows (Ferry's, to measure what its projection costs the
 * source).
 */
export async function sourceAlone(
  server: PostgresServer,
  database: string,
  table: string,
  keep?: Buffer[],
  sql = copySql(table),
): Promise<Measured> {
  const client = pgClient(server, database);
  await client.connect();
  try {
    // As the agent's sessions are: UTC, so timestamps print as Ferry's projection expects.
    await client.query("SET TIME ZONE 'UTC'");
    const started = performance.now();
    let bytes = 0;
    for await (const chunk of client.query(pgCopy.to(sql)) as AsyncIterable<Buffer>) {
      bytes += chunk.byteLength;
      keep?.push(chunk);
    }
    return { seconds: (performance.now() - started) / 1000, bytes };
  } finally {
    await client.end();
  }
}

/** The COPY statement the agent's CSV fast path runs for the whole table (one partition). */
export async function ferryCopyStatement(
  server: PostgresServer,
  database: string,
  table: string,
): Promise<string> {
  const source = new PostgresSource({
    type: "PostgreSQL",
    connection: { host: server.host, port: server.port, database, tlsMode: "Disable" },
    credentials: { username: server.user, password: server.password },
  });
  const quiet = () => {};
  const plan = await source.plan(
    { table },
    { signal: new AbortController().signal, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } },
  );
  const csv = csvDialect({});
  const agentText = agentMadeText(plan.schema, "Csv", csv) !== undefined;
  return copyStatement(postgresSelect(plan, plan.relation!, undefined, agentText), csv);
}

export function containerOf(azurite: AzuriteServer, name: string): ContainerClient {
  return BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name);
}

/**
 * Stages the bytes it is given as blocks of `blockSize`, at most `inFlight` uploading at once, and
 * commits them: what the agent's blob sink does, without anything around it.
 */
export class BlockUploader {
  private readonly blob;
  private readonly blockSize: number;
  private readonly inFlight: number;
  private readonly ids: string[] = [];
  private readonly pending = new Set<Promise<void>>();
  private buffer: Buffer;
  private filled = 0;
  private failure: unknown;
  bytes = 0;

  constructor(container: ContainerClient, name: string, blockSize: number, inFlight: number) {
    this.blob = container.getBlockBlobClient(name);
    this.blockSize = blockSize;
    this.inFlight = inFlight;
    this.buffer = Buffer.allocUnsafe(blockSize);
  }

  private stage(data: Buffer): void {
    const id = Buffer.from(`b${String(this.ids.length).padStart(7, "0")}`).toString("base64");
    this.ids.push(id);
    const p: Promise<void> = this.blob
      .stageBlock(id, data, data.byteLength)
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.byteLength;
    let offset = 0;
    while (offset < chunk.byteLength) {
      const n = Math.min(chunk.byteLength - offset, this.blockSize - this.filled);
      chunk.copy(this.buffer, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.blockSize) {
        this.stage(this.buffer);
        this.buffer = Buffer.allocUnsafe(this.blockSize);
        this.filled = 0;
        while (this.pending.size >= this.inFlight) await Promise.race(this.pending);
        if (this.failure) throw this.failure;
      }
    }
  }

  async commit(): Promise<void> {
    if (this.filled > 0) this.stage(this.buffer.subarray(0, this.filled));
    await Promise.all(this.pending);
    if (this.failure) throw this.failure;
    await this.blob.commitBlockList(this.ids);
  }
}

/** (b) The bytes of (a), from memory into one blob. */
export async function sinkAlone(
  container: ContainerClient,
  chunks: readonly Buffer[],
  blockSize: number,
  inFlight: number,
): Promise<Measured> {
  const name = `sink-${blockSize}-${inFlight}-${Date.now()}`;
  const started = performance.now();
  const up = new BlockUploader(container, name, blockSize, inFlight);
  for (const c of chunks) await up.write(c);
  await up.commit();
  const seconds = (performance.now() - started) / 1000;
  await container.getBlobClient(name).delete();
  return { seconds, bytes: up.bytes };
}

/**
 * (c) The minimal pipe: COPY's bytes straight into staged blocks, `partitions` key ranges read on
 * their own connections into their own blobs at once (1: the whole table, one blob).
 */
export async function minimalPipe(
  server: PostgresServer,
  database: string,
  table: string,
  container: ContainerClient,
  options: { blockSize: number; inFlight: number; partitions: number; rows: number },
): Promise<Measured> {
  const { partitions, rows } = options;
  const started = performance.now();
  const sizes = await Promise.all(
    Array.from({ length: partitions }, async (_, i) => {
      const lower = Math.floor((rows * i) / partitions);
      const upper = Math.floor((rows * (i + 1)) / partitions);
      const sql =
        partitions === 1
          ? copySql(table)
          : `COPY (SELECT * FROM ${table} WHERE id > ${lower} AND id <= ${upper}) TO STDOUT WITH (FORMAT csv)`;
      const name = `pipe-${partitions}-${i}-${Date.now()}`;
      const client = pgClient(server, database);
      await client.connect();
      try {
        const up = new BlockUploader(container, name, options.blockSize, options.inFlight);
        for await (const chunk of client.query(pgCopy.to(sql)) as AsyncIterable<Buffer>)
          await up.write(chunk);
        await up.commit();
        return { name, bytes: up.bytes };
      } finally {
        await client.end();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(sizes.map((s) => container.getBlobClient(s.name).delete()));
  return { seconds, bytes: sizes.reduce((a, s) => a + s.bytes, 0) };
}
