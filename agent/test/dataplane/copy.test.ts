/**
 * End to end on real servers: PostgreSQL and MariaDB tables copied to Azurite and to a file share
 * in every format, then read back from the files the manifest lists and compared row for row with
 * the source (counts, multiset of rows, content checksum). Plus the runner's rules: resume skips
 * committed partitions, a zombie attempt cannot overwrite, writeMode, progress.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLogger } from "@ferry/common/log";
import {
  type AzuriteServer,
  type MariaDbServer,
  type PostgresServer,
  startAzurite,
  startMariaDb,
  startPostgres,
} from "../../../hack/src/services/index.ts";
import {
  AttemptLostError,
  type CommittedPartitionInfo,
  type CopyProgress,
  type DataPlaneError,
  runCopy,
} from "../../src/dataplane/index.ts";
import type { ChildConfig } from "./fixtures/copy-child.ts";
import {
  addNullRowMaria,
  addNullRowPg,
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
  fileStore,
  mariaDatabase,
  mariaStore,
  pgDatabase,
  postgresStore,
  readOutput,
  uniqueName,
} from "./helpers.ts";

const CHILD = new URL("./fixtures/copy-child.ts", import.meta.url).pathname;
let pgServer: PostgresServer;
let maria: MariaDbServer;
let azurite: AzuriteServer;
let shareRoot: string;

before(async () => {
  [pgServer, maria, azurite] = await Promise.all([startPostgres(), startMariaDb(), startAzurite()]);
  shareRoot = await mkdtemp(join(tmpdir(), "ferry-share-"));
});
after(async () => {
  await Promise.all([pgServer?.stop(), maria?.stop(), azurite?.stop()]);
  await rm(shareRoot, { recursive: true, force: true });
});

const formats = [
  { format: "Csv", compression: "Gzip" },
  { format: "JsonLines", compression: "None" },
  { format: "Parquet", compression: "Snappy" },
] as const;

describe("PostgreSQL to Azurite, every format, verified row for row", () => {
  for (const { format, compression } of formats) {
    test(`${format} (${compression})`, async () => {
      const db = await pgDatabase(pgServer);
      try {
        await db.client.query(ITEMS_PG);
        await fillItemsPg(db.client, 5000);
        await addNullRowPg(db.client);
        const source = await itemsRowsPg(db.client);
        const container = uniqueName("c");
        await createContainer(azurite, container);
        const sink = blobStore(azurite, container);
        const job = copyJob(
          {
            dataStoreRef: { name: "pg" },
            table: "items",
            partitioning: { mode: "Column", column: "id", count: 4 },
          },
          { format, compression },
        );
        const committed: CommittedPartitionInfo[] = [];
        const progress: CopyProgress[] = [];
        const result = await runCopy({
          job,
          source: postgresStore(pgServer, db.name),
          sink,
          attempt: 1,
          onPartitionCommitted: async (p) => void committed.push(p),
          onProgress: (p) => void progress.push(p),
          tuning: { batchRows: 700, rowGroupRows: 900 },
        });
        const out = await readOutput(sink, job.spec.sink.path);
        assert.equal(out.rows.length, source.length);
        assertSameRows(out.rows, source);
        assert.equal(out.contentChecksum, checksumOf(source));
        assert.equal(
          result.output.contentChecksum,
          checksumOf(source),
          "the manifest's checksum matches the source",
        );
        assert.equal(result.output.rows, source.length);
        assert.equal(result.manifest.parts.length, 4);
        assert.equal(committed.length, 4);
        assert.deepEqual(
          committed.map((c) => c.id).sort(),
          result.manifest.parts.map((p) => p.partition),
        );
        // Only the report that completes the plan says so: the agent persists it with Succeeded.
        assert.deepEqual(
          committed.map((c) => c.last === true),
          [false, false, false, true],
        );
        const last = progress.at(-1)!;
        assert.equal(last.percent, 100);
        assert.equal(last.partitionsDone, 4);
        assert.equal(last.rows, source.length);
        assert.match(result.output.checksum!, /^sha256:[0-9a-f]{64}$/);
      } finally {
        await db.client.end();
      }
    });
  }
});

describe("MariaDB to a file share, every format, verified row for row", () => {
  for (const { format, compression } of [
    { format: "Csv", compression: "None" },
    { format: "JsonLines", compression: "Gzip" },
    { format: "Parquet", compression: "Gzip" },
  ] as const) {
    test(`${format} (${compression})`, async () => {
      const db = await mariaDatabase(maria);
      try {
        await db.conn.query(ITEMS_MARIA);
        await fillItemsMaria(db.conn, 4000);
        await addNullRowMaria(db.conn);
        const source = await itemsRowsMaria(db.conn);
        const sink = fileStore(shareRoot);
        const job = copyJob(
          {
            dataStoreRef: { name: "my" },
            table: "items",
            partitioning: { mode: "Column", column: "created", count: 3 },
          },
          { format, compression, ...(format === "Csv" ? { csv: { delimiter: ";", nullValue: "\\N" } } : {}) },
        );
        const result = await runCopy({
          job,
          source: mariaStore(maria, db.name),
          sink,
          attempt: 1,
          tuning: { batchRows: 500 },
        });
        const out = await readOutput(sink, job.spec.sink.path);
        assert.equal(out.rows.length, source.length);
        assertSameRows(out.rows, source);
        assert.equal(result.output.contentChecksum, checksumOf(source));
        assert.equal(result.manifest.parts.length, 3);
        // Nothing but the parts, the manifest and Ferry's own folder.
        const files = (await readdir(join(shareRoot, job.spec.sink.path))).sort();
        assert.deepEqual(files, ["_SUCCESS", "_ferry", ...result.manifest.parts.map((p) => p.file)].sort());
      } finally {
        await db.conn.end();
      }
    });
  }
});

/** Table items in `count` Column ranges of id, copied one at a time: the commits come in plan order. */
function itemsJob(count: number, format: "Csv" | "JsonLines") {
  return copyJob(
    { dataStoreRef: { name: "pg" }, table: "items", partitioning: { mode: "Column", column: "id", count } },
    { format },
    (s) => {
      s.parallelism = 1;
    },
  );
}

describe("exactly once across attempts", () => {
  test("a retry skips committed partitions, redoes the rest, and removes orphans", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 3000);
      const source = await itemsRowsPg(db.client);
      const sink = fileStore(shareRoot);
      const job = itemsJob(6, "JsonLines");
      const checkpoint: CommittedPartitionInfo[] = [];
      let fences = 0;
      // Attempt 1 loses its lease before its third commit.
      await assert.rejects(
        runCopy({
          job,
          source: postgresStore(pgServer, db.name),
          sink,
          attempt: 1,
          onPartitionCommitted: async (p) => void checkpoint.push(p),
          fence: async () => {
            if (++fences === 3) throw new Error("lease lost");
          },
        }),
        (err: DataPlaneError) => err.reason === "Fenced" && !err.transient,
      );
      assert.equal(checkpoint.length, 2);
      assert.ok(
        checkpoint.every((c) => !c.last),
        "no report of an attempt that does not finish is the last",
      );
      // Attempt 2 resumes: the two committed partitions are not read again.
      const committed2: CommittedPartitionInfo[] = [];
      const result = await runCopy({
        job,
        source: postgresStore(pgServer, db.name),
        sink,
        attempt: 2,
        checkpoint,
        onPartitionCommitted: async (p) => void committed2.push(p),
      });
      assert.equal(committed2.length, 4);
      assert.deepEqual(
        committed2.map((c) => c.last === true),
        [false, false, false, true],
        "the last of the resumed attempt's reports completes the plan with the checkpoint's two",
      );
      assert.deepEqual(
        result.manifest.parts.map((p) => p.attempt),
        [1, 1, 2, 2, 2, 2],
      );
      const out = await readOutput(sink, job.spec.sink.path);
      assertSameRows(out.rows, source);
      assert.equal(result.output.contentChecksum, checksumOf(source));
      const files = await readdir(join(shareRoot, job.spec.sink.path));
      assert.equal(files.filter((f) => f.startsWith("part-")).length, 6, "no orphan part is left");

      // A third run (or a zombie of attempt 1) finds the manifest and changes nothing.
      const again = await runCopy({
        job,
        source: postgresStore(pgServer, db.name),
        sink,
        attempt: 1,
        checkpoint: [],
      });
      assert.equal(again.alreadyDone, true);
      assert.equal(again.output.contentChecksum, result.output.contentChecksum);
    } finally {
      await db.client.end();
    }
  });

  test("an attempt that ends without its manifest deletes the parts no checkpoint names", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 900);
      const sink = fileStore(shareRoot);
      const base = {
        source: postgresStore(pgServer, db.name),
        sink,
      };
      const parted = () => itemsJob(3, "Csv");
      const parts = async (path: string) =>
        (await readdir(join(shareRoot, path)).catch(() => [] as string[]))
          .filter((f) => f.startsWith("part-"))
          .sort();

      // Fenced between its last commit and its manifest: the last part is nobody's.
      const fenced = parted();
      const reported: CommittedPartitionInfo[] = [];
      let fences = 0;
      await assert.rejects(
        runCopy({
          ...base,
          job: fenced,
          attempt: 1,
          onPartitionCommitted: async (p) => void reported.push(p),
          fence: async () => {
            if (++fences === 4) throw new Error("lease lost");
          },
        }),
        (err: DataPlaneError) => err.reason === "Fenced",
      );
      assert.deepEqual(
        reported.map((p) => p.last === true),
        [false, false, true],
      );
      assert.deepEqual(
        await parts(fenced.spec.sink.path),
        reported.slice(0, 2).map((p) => p.file),
        "the checkpointed parts stay for the next attempt; the last one is gone",
      );

      // A checkpoint write refused (the job moved on) leaves its part unclaimed; one whose answer
      // was lost may have named it, so that part stays.
      for (const [thrown, kept] of [
        [new AttemptLostError("the job is no longer this node's attempt"), 1],
        [new Error("socket hang up"), 2],
      ] as const) {
        const job = parted();
        let calls = 0;
        await assert.rejects(
          runCopy({
            ...base,
            job,
            attempt: 1,
            onPartitionCommitted: async () => {
              if (++calls === 2) throw thrown;
            },
          }),
        );
        assert.equal((await parts(job.spec.sink.path)).length, kept, thrown.message);
      }

      // A zombie whose late part lands after the newer attempt's manifest and clean-up: it finds
      // that manifest and deletes its own parts the manifest does not list.
      const raced = parted();
      let newer: Awaited<ReturnType<typeof runCopy>> | undefined;
      let reports = 0;
      const zombie = await runCopy({
        ...base,
        job: raced,
        attempt: 1,
        // After its second part: the newer attempt runs to its end; the zombie then commits its third.
        onPartitionCommitted: async () => {
          if (++reports === 2) newer = await runCopy({ ...base, job: raced, attempt: 2, checkpoint: [] });
        },
      });
      assert.equal(zombie.alreadyDone, true);
      assert.equal(newer?.manifest.attempt, 2);
      assert.deepEqual(
        await parts(raced.spec.sink.path),
        newer!.manifest.parts.map((p) => p.file).sort(),
        "only the parts the manifest lists",
      );
      const out = await readOutput(sink, raced.spec.sink.path);
      assert.equal(out.rows.length, 900);
    } finally {
      await db.client.end();
    }
  });

  test("the plan is fixed by the first attempt even when the table changes", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 1000);
      const container = uniqueName("c");
      await createContainer(azurite, container);
      const sink = blobStore(azurite, container);
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table: "items",
          partitioning: { mode: "Column", column: "id", count: 4 },
        },
        { format: "Csv" },
        (s) => {
          s.parallelism = 1;
        },
      );
      const checkpoint: CommittedPartitionInfo[] = [];
      await assert.rejects(
        runCopy({
          job,
          source: postgresStore(pgServer, db.name),
          sink,
          attempt: 1,
          onPartitionCommitted: async (p) => {
            checkpoint.push(p);
            throw new Error("agent crashed after persisting");
          },
        }),
      );
      // Rows added between attempts land in the last (open-ended) range, never twice.
      await fillItemsPg(db.client, 500, 1001);
      const source = await itemsRowsPg(db.client);
      const result = await runCopy({
        job,
        source: postgresStore(pgServer, db.name),
        sink,
        attempt: 2,
        checkpoint,
      });
      assert.equal(result.manifest.parts.length, 4);
      const out = await readOutput(sink, job.spec.sink.path);
      assertSameRows(out.rows, source);
    } finally {
      await db.client.end();
    }
  });

  test("two attempts that both find no plan: one stores its plan, the other copies by it", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 900);
      const source = await itemsRowsPg(db.client);
      const sink = fileStore(shareRoot);
      // Started together, both list the empty folder before either has planned (planning queries
      // the source first); should one store its plan before the other lists, try a new job.
      // Either way exactly one attempt plans.
      for (let tries = 1; ; tries++) {
        const job = itemsJob(3, "Csv");
        const lines: { msg: string; attempt: number; keyColumn?: string }[] = [];
        const log = createLogger("copy-test", "info", {
          write: (l: string) => void lines.push(JSON.parse(l)),
        });
        const attempt = (n: number) =>
          runCopy({
            job,
            source: postgresStore(pgServer, db.name),
            sink,
            attempt: n,
            log: log.child({ attempt: n }),
          });
        const [a, b] = await Promise.all([attempt(1), attempt(2)]);
        const said = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.attempt);
        const planned = said("planned");
        assert.equal(planned.length, 1, "one attempt stored its plan");
        assert.equal(lines.find((l) => l.msg === "planned")?.keyColumn, "id", "the log names the key column");
        const raced = said("another attempt stored the plan first; copying by it");
        // No race this time: the second listing came after the plan was stored, and it was read.
        if (raced.length === 0 && tries < 5) continue;
        assert.deepEqual(
          raced,
          [3 - planned[0]!],
          "the other attempt lost the create and copied by that plan",
        );
        assert.equal(a.manifest.contentChecksum, b.manifest.contentChecksum);
        const out = await readOutput(sink, job.spec.sink.path);
        assertSameRows(out.rows, source);
        const files = (await readdir(join(shareRoot, job.spec.sink.path))).filter((f) =>
          f.startsWith("part-"),
        );
        assert.deepEqual(
          files.sort(),
          out.manifest.parts.map((p) => p.file).sort(),
          "only the manifest's parts",
        );
        break;
      }
    } finally {
      await db.client.end();
    }
  });

  test("a part of many blocks, written in odd-sized chunks, reads back byte for byte (blocks are reused)", async () => {
    const container = uniqueName("c");
    await createContainer(azurite, container);
    const { connectorFor } = await import("../../src/dataplane/connectors/index.ts");
    const store = blobStore(azurite, container);
    const sink = (await connectorFor(store.type)).openSink!(store, uniqueName("x"), {
      blockSize: 1000,
      blockConcurrency: 2,
    });
    const part = await sink.openPart("part-00000-aaaaaaaaaaaa-a1.csv", "text/csv");
    // 50 blocks and a partial one through 3 buffers: any block reused before it was staged
    // would show as another block's bytes.
    const data = Buffer.alloc(50_321);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 10)) & 0xff;
    for (let at = 0, step = 1; at < data.length; at += step, step = (step * 7 + 3) % 1777) {
      await part.write(Buffer.from(data.subarray(at, Math.min(data.length, at + step))));
    }
    await part.commit({ ferryrows: "0" });
    const read = await sink.read("part-00000-aaaaaaaaaaaa-a1.csv");
    assert.ok(read?.data.equals(data), "the part holds the bytes written, in order");
  });

  test("the parts of a copy share a bounded number of block buffers, and an aborted part gives its back", async () => {
    const container = uniqueName("c");
    await createContainer(azurite, container);
    const { AzureBlobSink } = await import("../../src/dataplane/connectors/azure-blob.ts");
    const store = blobStore(azurite, container);
    const sink = new AzureBlobSink(store, uniqueName("x"), {
      blockSize: 1000,
      blockConcurrency: 2,
      blockBudget: 3,
    });
    // Six parts written at once, far more than three buffers' worth each.
    const datas = Array.from({ length: 6 }, (_, p) =>
      Buffer.from(
        Uint8Array.from({ length: 7_345 + p * 911 }, (_, i) => (i * 13 + p * 101 + (i >> 9)) & 0xff),
      ),
    );
    await Promise.all(
      datas.map(async (data, p) => {
        const part = await sink.openPart(`part-0000${p}-aaaaaaaaaaaa-a1.csv`, "text/csv");
        for (let at = 0, step = 1 + p; at < data.length; at += step, step = (step * 5 + 7) % 1333) {
          await part.write(Buffer.from(data.subarray(at, Math.min(data.length, at + step))));
        }
        await part.commit({ ferryrows: "0" });
      }),
    );
    for (const [p, data] of datas.entries()) {
      const read = await sink.read(`part-0000${p}-aaaaaaaaaaaa-a1.csv`);
      assert.ok(read?.data.equals(data), `part ${p} holds its bytes, in order`);
    }
    assert.ok(sink.blocks.allocated <= 3, `${sink.blocks.allocated} buffers made for a budget of 3`);

    // One buffer in all: a part aborted while it holds it half filled must give it back, or the
    // next part waits for ever.
    const one = new AzureBlobSink(store, uniqueName("y"), { blockSize: 1000, blockBudget: 1 });
    const dropped = await one.openPart("part-00000-aaaaaaaaaaaa-a1.csv", "text/csv");
    await dropped.write(Buffer.alloc(500, 1));
    await dropped.abort();
    const next = await one.openPart("part-00001-aaaaaaaaaaaa-a1.csv", "text/csv");
    const written = (async () => {
      await next.write(Buffer.alloc(4_500, 2));
      await next.commit({ ferryrows: "0" });
    })();
    const stuck = new Promise((_, reject) =>
      setTimeout(
        () => reject(new Error("the aborted part kept its buffer: the next part waits")),
        10_000,
      ).unref(),
    );
    await Promise.race([written, stuck]);
    assert.equal((await one.read("part-00001-aaaaaaaaaaaa-a1.csv"))?.data.length, 4_500);
    assert.equal(one.blocks.allocated, 1);
  });

  test("a part is never overwritten: the same part name cannot be committed twice", async () => {
    const container = uniqueName("c");
    await createContainer(azurite, container);
    const { connectorFor } = await import("../../src/dataplane/connectors/index.ts");
    for (const store of [blobStore(azurite, container), fileStore(shareRoot)]) {
      const sink = (await connectorFor(store.type)).openSink!(store, uniqueName("x"));
      const a = await sink.openPart("part-00000-aaaaaaaaaaaa-a1.csv", "text/csv");
      const b = await sink.openPart("part-00000-aaaaaaaaaaaa-a1.csv", "text/csv");
      await a.write(Buffer.from("first\n"));
      await b.write(Buffer.from("zombie\n"));
      await a.commit({ ferryrows: "1" });
      await assert.rejects(b.commit({ ferryrows: "1" }), (e: DataPlaneError) => e.reason === "PartExists");
      const read = await sink.read("part-00000-aaaaaaaaaaaa-a1.csv");
      assert.equal(read?.data.toString(), "first\n");
      // Before commit a part is invisible.
      const c = await sink.openPart("part-00001-aaaaaaaaaaaa-a1.csv", "text/csv");
      await c.write(Buffer.from("pending\n"));
      assert.equal(await sink.read("part-00001-aaaaaaaaaaaa-a1.csv"), undefined);
      await c.abort();
      // Small files: create only once; replace only the version that was read.
      assert.equal(await sink.create("_SUCCESS", Buffer.from("one")), true);
      assert.equal(await sink.create("_SUCCESS", Buffer.from("two")), false);
      const current = await sink.read("_SUCCESS");
      assert.equal(current?.data.toString(), "one");
      assert.equal(await sink.replace("_SUCCESS", Buffer.from("three"), current!.etag), true);
      assert.equal(await sink.replace("_SUCCESS", Buffer.from("stale"), current!.etag), false);
      assert.equal((await sink.read("_SUCCESS"))?.data.toString(), "three");
    }
  });
});

describe("writeMode", () => {
  test("FailIfExists refuses a folder holding another job's files; Overwrite replaces them after commit", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 200);
      const source = await itemsRowsPg(db.client);
      const sink = fileStore(shareRoot);
      const folder = uniqueName("shared");
      await mkdir(join(shareRoot, folder), { recursive: true });
      await writeFile(join(shareRoot, folder, "old-export.csv"), "stale\n");
      const pgStore = postgresStore(pgServer, db.name);
      const failing = copyJob(
        { dataStoreRef: { name: "pg" }, table: "items" },
        { path: folder, writeMode: "FailIfExists" },
      );
      await assert.rejects(
        runCopy({ job: failing, source: pgStore, sink, attempt: 1 }),
        (e: DataPlaneError) => {
          assert.equal(e.reason, "PathNotEmpty");
          assert.match(e.message, /old-export\.csv/);
          return !e.transient;
        },
      );
      const first = copyJob(
        { dataStoreRef: { name: "pg" }, table: "items" },
        { path: folder, writeMode: "Overwrite" },
      );
      await runCopy({ job: first, source: pgStore, sink, attempt: 1 });
      const second = copyJob(
        { dataStoreRef: { name: "pg" }, table: "items", query: undefined },
        { path: folder, writeMode: "Overwrite", format: "Parquet" },
      );
      const result = await runCopy({ job: second, source: pgStore, sink, attempt: 1 });
      const files = (await readdir(join(shareRoot, folder))).sort();
      assert.deepEqual(files, ["_SUCCESS", "_ferry", result.manifest.parts[0]!.file].sort());
      const out = await readOutput(sink, folder);
      assert.equal(out.manifest.job.uid, second.uid);
      assertSameRows(out.rows, source);
    } finally {
      await db.client.end();
    }
  });
});

describe("sources beyond tables", () => {
  test("a query source with Auto partitioning and an incremental window", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await db.client.query("ALTER TABLE items ADD PRIMARY KEY (id)");
      await fillItemsPg(db.client, 3000);
      await db.client.query("ANALYZE items");
      const container = uniqueName("c");
      await createContainer(azurite, container);
      const sink = blobStore(azurite, container);
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table: "items",
          partitioning: { mode: "Auto", count: 5 },
          incremental: { watermarkColumn: "id", after: "1000" },
        },
        { format: "Csv" },
      );
      const result = await runCopy({
        job,
        source: postgresStore(pgServer, db.name),
        sink,
        attempt: 1,
        tuning: { targetRowsPerPartition: 500 },
      });
      assert.equal(result.manifest.parts.length, 5, "Auto split on the primary key, capped by count");
      assert.equal(result.output.rows, 2000);
      assert.equal(result.output.watermark, "3000");
      const out = await readOutput(sink, job.spec.sink.path);
      const ids = out.rows.map((r) => Number(r[0])).sort((a, b) => a - b);
      assert.equal(ids[0], 1001);
      assert.equal(ids.at(-1), 3000);
    } finally {
      await db.client.end();
    }
  });

  test("file share CSV files to Azurite Parquet, and Azurite JSON Lines back to a file share", async () => {
    const folder = join(shareRoot, uniqueName("in"));
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, "a.csv"), 'id,name\n1,"x, ""y"""\n2,\n3,"multi\nline"\n');
    await writeFile(join(folder, "b.csv"), "id,name\n4,four\n");
    await writeFile(join(folder, "skip.txt"), "not data");
    const container = uniqueName("c");
    await createContainer(azurite, container);
    const blob = blobStore(azurite, container);
    const rel = folder.slice(shareRoot.length + 1);
    const toBlob = copyJob(
      { dataStoreRef: { name: "share" }, query: `${rel}/*.csv` },
      { format: "JsonLines", path: "stage" },
    );
    const r1 = await runCopy({ job: toBlob, source: fileStore(shareRoot), sink: blob, attempt: 1 });
    assert.equal(r1.manifest.parts.length, 2);
    const back = copyJob(
      { dataStoreRef: { name: "blob" }, query: "stage/part-*.jsonl" },
      { format: "Parquet", path: uniqueName("back") },
    );
    await runCopy({ job: back, source: blob, sink: fileStore(shareRoot), attempt: 1 });
    const out = await readOutput(fileStore(shareRoot), back.spec.sink.path);
    assertSameRows(out.rows, [
      ["1", 'x, "y"'],
      ["2", null],
      ["3", "multi\nline"],
      ["4", "four"],
    ]);
  });
});

describe("cancellation and memory", () => {
  test("aborting the signal stops the copy with reason Cancelled and commits nothing more", async () => {
    const db = await pgDatabase(pgServer);
    try {
      await db.client.query(ITEMS_PG);
      await fillItemsPg(db.client, 20_000);
      const controller = new AbortController();
      const committed: string[] = [];
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table: "items",
          partitioning: { mode: "Column", column: "id", count: 8 },
        },
        { format: "JsonLines" },
        (s) => {
          s.parallelism = 2;
        },
      );
      await assert.rejects(
        runCopy({
          job,
          source: postgresStore(pgServer, db.name),
          sink: fileStore(shareRoot),
          attempt: 1,
          signal: controller.signal,
          tuning: { batchRows: 200 },
          onPartitionCommitted: async (p) => {
            committed.push(p.id);
            controller.abort();
          },
        }),
        (e: DataPlaneError) => e.reason === "Cancelled",
      );
      assert.ok(committed.length >= 1 && committed.length <= 2, `committed ${committed.length}`);
      const files = await readdir(join(shareRoot, job.spec.sink.path));
      assert.ok(!files.includes("_SUCCESS"));
      assert.ok(!files.some((f) => f.includes("ferry-tmp")), "no temporary file left behind");
    } finally {
      await db.client.end();
    }
  });

  test("memory stays flat: 400 MB of rows copy in a process whose heap is capped at 128 MB", async () => {
    const db = await pgDatabase(pgServer);
    const dir = await mkdtemp(join(tmpdir(), "ferry-mem-"));
    try {
      await db.client.query(
        "CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), 64) AS payload FROM generate_series(1, 200000) g",
      );
      const job = copyJob(
        {
          dataStoreRef: { name: "pg" },
          table: "wide",
          partitioning: { mode: "Column", column: "id", count: 4 },
        },
        { format: "JsonLines" },
      );
      const config: ChildConfig = {
        job,
        source: postgresStore(pgServer, db.name),
        sink: fileStore(shareRoot),
        attempt: 1,
        checkpointFile: join(dir, "checkpoint.json"),
        resultFile: join(dir, "result.json"),
        tuning: { batchRows: 2000 },
      };
      await writeFile(join(dir, "config.json"), JSON.stringify(config));
      const child = spawn(process.execPath, ["--max-old-space-size=128", CHILD, join(dir, "config.json")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      const code = await new Promise((r) => child.once("exit", r));
      assert.equal(code, 0, err);
      const result = JSON.parse(await readFile(join(dir, "result.json"), "utf8")) as {
        rows: number;
        bytes: number;
      };
      assert.equal(result.rows, 200_000);
      assert.ok(result.bytes > 400e6);
      // V8 enforced the 128 MB heap; the Buffers outside it stayed small too.
      const peak = JSON.parse(/maxrss=\d+ (\{.*\})/.exec(out)![1]!) as { external: number; heapUsed: number };
      assert.ok(peak.external < 100e6, `peak external memory ${Math.round(peak.external / 1e6)} MB`);
    } finally {
      await db.client.end();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
