/**
 * The users' worst fear: the node dies mid-copy. A copy runs in a child process that is SIGKILLed
 * at random points (before planning, between commits, in the middle of a part), then resumed as a
 * new attempt with the persisted checkpoint, until it finishes. The output in Azurite must then hold
 * every source row exactly once: row count, the multiset of rows, and the content checksum computed
 * from the source, the files and the manifest all agree, with one part per partition. Any other
 * part left in the folder must be a killed attempt's (a commit it had sent may land after the final
 * attempt cleaned up; the manifest is the truth).
 *
 * FERRY_KILLS (default 3) sets the kills per scenario, FERRY_KILL_ROWS (default 20000) the table
 * size, FERRY_KILL_SEED the random seed (printed on failure) — e.g. FERRY_KILLS=40 for a long run.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import {
  type AzuriteServer,
  type MariaDbServer,
  type PostgresServer,
  startAzurite,
  startMariaDb,
  startPostgres,
} from "../../../hack/src/services/index.ts";
import { connectorFor } from "../../src/dataplane/connectors/index.ts";
import type { CopyJobRef } from "../../src/dataplane/copy.ts";
import type { StoreConfig } from "../../src/dataplane/types.ts";
import type { ChildConfig } from "./fixtures/copy-child.ts";
import {
  fillItemsMaria,
  fillItemsPg,
  ITEMS_MARIA,
  ITEMS_PG,
  itemsRowsMaria,
  itemsRowsPg,
} from "./fixtures/tables.ts";
import {
  assertSameRows,
  blobStore,
  checksumOf,
  copyJob,
  createContainer,
  mariaDatabase,
  mariaStore,
  pgDatabase,
  postgresStore,
  readOutput,
  uniqueName,
} from "./helpers.ts";

const KILLS = Number(process.env.FERRY_KILLS ?? 3);
const ROWS = Number(process.env.FERRY_KILL_ROWS ?? 20_000);
const SEED = Number(process.env.FERRY_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CHILD = new URL("./fixtures/copy-child.ts", import.meta.url).pathname;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let pgServer: PostgresServer;
let maria: MariaDbServer;
let azurite: AzuriteServer;
let work: string;

before(async () => {
  [pgServer, maria, azurite] = await Promise.all([startPostgres(), startMariaDb(), startAzurite()]);
  work = await mkdtemp(join(tmpdir(), "ferry-kill-"));
});
after(async () => {
  await Promise.all([pgServer?.stop(), maria?.stop(), azurite?.stop()]);
  await rm(work, { recursive: true, force: true });
});

interface Attempt {
  exit: "killed" | "done" | "failed";
  commits: number;
  stderr: string;
}

/**
 * Runs one attempt; with `killAfter` set, SIGKILLs it `delayMs` after that many commits were
 * persisted (0: after it started).
 */
function runAttempt(configFile: string, kill?: { afterCommits: number; delayMs: number }): Promise<Attempt> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, configFile], { stdio: ["ignore", "pipe", "pipe"] });
    let commits = 0;
    let stderr = "";
    let killed = false;
    const arm = () => {
      setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, kill!.delayMs);
    };
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "start" && kill && kill.afterCommits === 0) arm();
      if (line.startsWith("done")) return;
      if (line.startsWith("commit ")) {
        commits++;
        if (kill && commits === kill.afterCommits) arm();
      }
    });
    child.on("exit", (code) =>
      resolve({ exit: killed ? "killed" : code === 0 ? "done" : "failed", commits, stderr }),
    );
  });
}

async function killAndResume(
  job: CopyJobRef,
  source: StoreConfig,
  sink: StoreConfig,
  partitions: number,
  random: () => number,
) {
  const dir = await mkdtemp(join(work, "job-"));
  const checkpointFile = join(dir, "checkpoint.json");
  const resultFile = join(dir, "result.json");
  let attempt = 0;
  let kills = 0;
  const log: string[] = [];
  for (;;) {
    attempt++;
    const config: ChildConfig = {
      job,
      source,
      sink,
      attempt,
      checkpointFile,
      resultFile,
      tuning: { batchRows: 400, rowGroupRows: 1500, progressIntervalMs: 50 },
    };
    const configFile = join(dir, `attempt-${attempt}.json`);
    await writeFile(configFile, JSON.stringify(config));
    const done = await readFile(checkpointFile, "utf8").then(
      (t) => (JSON.parse(t) as unknown[]).length,
      () => 0,
    );
    const kill =
      kills < KILLS
        ? {
            afterCommits: Math.floor(random() * Math.max(1, partitions - done)),
            delayMs: Math.floor(random() * 120),
          }
        : undefined;
    const r = await runAttempt(configFile, kill);
    log.push(`attempt ${attempt}: ${r.exit} after ${r.commits} commits (checkpoint had ${done})`);
    if (r.exit === "failed")
      throw new Error(`attempt ${attempt} failed (seed ${SEED}):\n${r.stderr}\n${log.join("\n")}`);
    if (r.exit === "done") break;
    kills++;
    if (attempt > KILLS + 5) throw new Error(`no progress (seed ${SEED}):\n${log.join("\n")}`);
  }
  return {
    attempts: attempt,
    log,
    output: JSON.parse(await readFile(resultFile, "utf8")) as { contentChecksum: string; rows: number },
  };
}

async function verify(
  sink: StoreConfig,
  job: CopyJobRef,
  source: (string | null)[][],
  partitions: number,
  output: { contentChecksum: string; rows: number },
  log: string[],
  finalAttempt: number,
) {
  const context = `seed ${SEED}\n${log.join("\n")}`;
  const out = await readOutput(sink, job.spec.sink.path);
  assert.equal(out.rows.length, source.length, context);
  assertSameRows(out.rows, source, `rows (${context})`);
  const expected = checksumOf(source);
  assert.equal(out.contentChecksum, expected, context);
  assert.equal(out.manifest.contentChecksum, expected, context);
  assert.equal(output.contentChecksum, expected, context);
  assert.equal(output.rows, source.length, context);
  assert.equal(out.manifest.parts.length, partitions, context);
  assert.equal(new Set(out.manifest.parts.map((p) => p.partition)).size, partitions, context);
  // Every manifest part is in the folder. Orphans the final attempt saw were deleted (copy.test.ts
  // checks that deterministically); what may remain is a zombie write, as copy.ts's header says: a
  // part whose commit a killed attempt had sent, applied by the store after the final attempt
  // listed the folder. Such a part can only belong to a killed (earlier) attempt of this job.
  const files = await (await connectorFor(sink.type)).openSink!(sink, job.spec.sink.path).list();
  const parts = files.map((f) => f.name).filter((n) => n.startsWith("part-"));
  const listed = out.manifest.parts.map((p) => p.file);
  for (const f of listed) assert.ok(parts.includes(f), `${f} is in the folder (${context})`);
  const tag = /^part-\d{5}-([0-9a-f]+)-a\d+\./.exec(listed[0]!)![1];
  const extra = parts.filter((n) => !listed.includes(n));
  for (const n of extra) {
    const m = /^part-\d{5}-([0-9a-f]+)-a(\d+)\./.exec(n);
    assert.ok(
      m && m[1] === tag && Number(m[2]) < finalAttempt,
      `${n} is not a zombie write of a killed attempt (final attempt ${finalAttempt}; ${context})`,
    );
  }
  if (extra.length > 0) console.log(`zombie writes left after the final attempt: ${extra.join(", ")}`);
}

describe(`kill -9 and resume (${KILLS} kills per scenario, ${ROWS} rows)`, () => {
  const scenarios = [
    { name: "PostgreSQL, CSV gzip (COPY fast path)", db: "pg", format: "Csv", compression: "Gzip" },
    { name: "MariaDB, CSV", db: "maria", format: "Csv", compression: "None" },
    { name: "PostgreSQL, Parquet", db: "pg", format: "Parquet", compression: "Snappy" },
    { name: "MariaDB, JSON Lines", db: "maria", format: "JsonLines", compression: "None" },
  ] as const;
  for (const [i, s] of scenarios.entries()) {
    test(`${s.name}: every row exactly once in Azurite`, async () => {
      const random = prng(SEED + i);
      const partitions = 8;
      const container = uniqueName("c");
      await createContainer(azurite, container);
      const sink = blobStore(azurite, container);
      const job = copyJob(
        {
          dataStoreRef: { name: "src" },
          table: "items",
          partitioning: { mode: "Column", column: "id", count: partitions },
        },
        { format: s.format, compression: s.compression },
        (spec) => {
          spec.parallelism = 3;
        },
      );
      if (s.db === "pg") {
        const db = await pgDatabase(pgServer);
        try {
          await db.client.query(ITEMS_PG);
          await fillItemsPg(db.client, ROWS);
          const source = await itemsRowsPg(db.client);
          const { log, output, attempts } = await killAndResume(
            job,
            postgresStore(pgServer, db.name),
            sink,
            partitions,
            random,
          );
          await verify(sink, job, source, partitions, output, log, attempts);
        } finally {
          await db.client.end();
        }
      } else {
        const db = await mariaDatabase(maria);
        try {
          await db.conn.query(ITEMS_MARIA);
          await fillItemsMaria(db.conn, ROWS);
          const source = await itemsRowsMaria(db.conn);
          const { log, output, attempts } = await killAndResume(
            job,
            mariaStore(maria, db.name),
            sink,
            partitions,
            random,
          );
          await verify(sink, job, source, partitions, output, log, attempts);
        } finally {
          await db.conn.end();
        }
      }
    });
  }
});
