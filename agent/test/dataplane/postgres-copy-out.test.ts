/**
 * The CopyOut reader of the CSV fast path: its framing fed every way a byte stream can be cut, and
 * on a real server byte for byte what psql's COPY prints, with rows larger than a socket chunk,
 * an empty result, a server error and an abort mid-stream, and a consumer that falls behind.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import fc from "fast-check";
import pg from "pg";
import { type PostgresServer, startPostgres } from "../../../hack/src/services/index.ts";
import { classifyPostgresError, PostgresSource } from "../../src/dataplane/connectors/postgres.ts";
import { CopyOutFrames, copyOut, STRIP_WINDOW } from "../../src/dataplane/connectors/postgres-copy-out.ts";
import { csvDialect } from "../../src/dataplane/formats/csv.ts";
import type { DataPlaneError } from "../../src/dataplane/index.ts";
import { pgDatabase, postgresStore } from "./helpers.ts";

/** The bytes the source's CSV fast path reads for `query` (one partition, no header). */
async function fastPathBytes(source: PostgresSource, query: string): Promise<AsyncIterable<Uint8Array>> {
  const quiet = () => {};
  const plan = await source.plan(
    { query },
    { signal: new AbortController().signal, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } },
  );
  const data = await source.read(plan, plan.partitions[0]!, {
    signal: new AbortController().signal,
    format: "Csv",
    csv: csvDialect({ header: false }),
    batchRows: 1000,
  });
  assert.equal(data.kind, "csv", "the query takes the fast path");
  return (data as { bytes: AsyncIterable<Uint8Array> }).bytes;
}

// A synthesized CopyOut stream: the messages a server may send, then what follows CopyDone.

const message = (type: string, body: Uint8Array) => {
  const m = Buffer.alloc(5 + body.length);
  m[0] = type.charCodeAt(0);
  m.writeUInt32BE(4 + body.length, 1);
  m.set(body, 5);
  return m;
};
const cstring = (s: string) => Buffer.from(`${s}\0`);
/** n bytes that differ from their neighbours, so a payload moved to the wrong place shows. */
const fill = (n: number) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
/** CopyDone, CommandComplete, ReadyForQuery: the bytes the reader must hand back to pg. */
const TAIL = Buffer.concat([
  message("c", new Uint8Array(0)),
  message("C", cstring("COPY 3")),
  message("Z", Buffer.from("I")),
]);

type Piece = { type: "d" | "H" | "N" | "S" | "A"; body: Uint8Array };
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }).map((body): Piece => ({ type: "d", body })) },
  // Lengths with more than one significant byte.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 250, max: 70_000 }).map((n): Piece => ({ type: "d", body: fill(n) })),
  },
  // Payload bytes that look like message types and lengths.
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("d", "c", "E", "\0\0\0\x04")
      .map((s): Piece => ({ type: "d", body: Buffer.from(s) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("N" as const, "S" as const, "A" as const), fc.uint8Array({ maxLength: 30 }))
      .map(([type, body]): Piece => ({ type, body })),
  },
);

function stream(pieces: Piece[]): { bytes: Buffer; payload: Buffer; tailAt: number } {
  const head = message("H", Buffer.from([0, 0, 1, 0, 0]));
  const body = Buffer.concat([head, ...pieces.map((p) => message(p.type, p.body))]);
  return {
    bytes: Buffer.concat([body, TAIL]),
    payload: Buffer.concat(pieces.filter((p) => p.type === "d").map((p) => p.body)),
    tailAt: body.length,
  };
}

/** Feeds `bytes` cut at `cuts` (each chunk a fresh Buffer, as sockets give them). */
function feed(bytes: Buffer, cuts: number[]): { payload: Buffer; handedBack: Buffer } {
  const frames = new CopyOutFrames();
  const out: Buffer[] = [];
  const back: Buffer[] = [];
  const bounds = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  let start = 0;
  for (const end of [...bounds, bytes.length]) {
    const chunk = Buffer.from(bytes.subarray(start, end));
    start = end;
    if (frames.rest >= 0) {
      back.push(chunk);
      continue;
    }
    const n = frames.strip(chunk);
    out.push(Buffer.from(chunk.subarray(0, n)));
    if (frames.rest >= 0) back.push(chunk.subarray(frames.rest));
  }
  return { payload: Buffer.concat(out), handedBack: Buffer.concat(back) };
}

describe("CopyOut framing", () => {
  test("any chunking yields the CopyData payloads and hands back what follows CopyDone", () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 40 }),
        (pieces, cuts) => {
          const s = stream(pieces);
          const r = feed(s.bytes, cuts);
          assert.deepEqual(r.payload, s.payload);
          assert.deepEqual(r.handedBack, s.bytes.subarray(s.tailAt));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("every header and payload split: each single cut, and one byte at a time", () => {
    const pieces: Piece[] = [
      { type: "d", body: Buffer.from("1,one\n") },
      { type: "N", body: cstring("SNOTICE") },
      { type: "d", body: Buffer.from('2,"t,w""o"\n') },
      { type: "S", body: Buffer.concat([cstring("TimeZone"), cstring("UTC")]) },
      { type: "d", body: Buffer.alloc(0) },
      { type: "A", body: Buffer.from([0, 0, 0, 1, 0x78, 0, 0]) },
      { type: "d", body: Buffer.from("3,three\n") },
    ];
    const s = stream(pieces);
    for (let cut = 0; cut <= s.bytes.length; cut++) {
      const r = feed(s.bytes, [cut]);
      assert.deepEqual(r.payload, s.payload, `cut at ${cut}`);
      assert.deepEqual(r.handedBack, s.bytes.subarray(s.tailAt), `cut at ${cut}`);
    }
    const bytewise = feed(
      s.bytes,
      Array.from({ length: s.bytes.length }, (_, i) => i),
    );
    assert.deepEqual(bytewise.payload, s.payload);
    assert.deepEqual(bytewise.handedBack, s.bytes.subarray(s.tailAt));
  });

  test("a message of more than 16 MiB, its header cut at each byte", () => {
    const big: Piece = { type: "d", body: fill((1 << 24) + 300) };
    const s = stream([{ type: "d", body: Buffer.from("x") }, big, { type: "d", body: Buffer.from("y") }]);
    const at = 10 + 6; // the big message's type byte, after CopyOutResponse (10 bytes) and "x" (6)
    for (let cut = at; cut <= at + 6; cut++) {
      const r = feed(s.bytes, [cut, cut + 1000, cut + (1 << 24)]);
      assert.ok(r.payload.equals(s.payload), `cut at ${cut}`);
      assert.deepEqual(r.handedBack, s.bytes.subarray(s.tailAt));
    }
  });

  test("an ErrorResponse, even right after a split header, is handed back from its type byte", () => {
    const err = message("E", Buffer.concat([cstring("SERROR"), cstring("C22012"), Buffer.from([0])]));
    const bytes = Buffer.concat([message("H", Buffer.from([0, 0, 0])), message("d", Buffer.from("ab")), err]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = feed(bytes, [cut]);
      assert.equal(r.payload.toString(), "ab", `cut at ${cut}`);
      assert.deepEqual(r.handedBack, err, `cut at ${cut}`);
    }
  });

  test("a chunk longer than the module's window: a header cut by the window's end at each byte", () => {
    // One chunk, as a socket gives a reader that fell behind; the window's end falls inside the
    // header of the message after the first, at each of its bytes (and just before and after it).
    for (let k = 0; k <= 6; k++) {
      const first = STRIP_WINDOW - 10 - 5 - k; // after CopyOutResponse (10 bytes) and its own header
      const pieces: Piece[] = [
        { type: "d", body: fill(first) },
        { type: "d", body: Buffer.from("next,row\n") },
        { type: "N", body: cstring("SNOTICE") },
        ...Array.from({ length: 3000 }, (_, i): Piece => ({ type: "d", body: fill(i % 300) })),
      ];
      const s = stream(pieces);
      assert.ok(s.bytes.length > 2 * STRIP_WINDOW);
      for (const cuts of [[], [STRIP_WINDOW + 3], [STRIP_WINDOW - k + 2, 2 * STRIP_WINDOW - 1]]) {
        const r = feed(s.bytes, cuts);
        assert.ok(r.payload.equals(s.payload), `type byte at the window's end - ${k}, cuts ${cuts}`);
        assert.deepEqual(r.handedBack, s.bytes.subarray(s.tailAt));
      }
    }
  });

  test("streams read at once keep apart: chunks of two streams stripped in turn", () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 20 }),
        fc.array(piece, { maxLength: 20 }),
        fc.array(fc.nat({ max: 3000 }), { maxLength: 20 }),
        (a, b, cuts) => {
          const streams = [stream(a), stream(b)];
          const frames = [new CopyOutFrames(), new CopyOutFrames()];
          const out: Buffer[][] = [[], []];
          const chunks = streams.map((s) => {
            const bounds = [...new Set(cuts)].filter((c) => c > 0 && c < s.tailAt).sort((x, y) => x - y);
            return [...bounds, s.tailAt].map((end, i, all) =>
              Buffer.from(s.bytes.subarray(all[i - 1] ?? 0, end)),
            );
          });
          for (let i = 0; i < Math.max(chunks[0]!.length, chunks[1]!.length); i++) {
            for (const j of [0, 1]) {
              const chunk = chunks[j]![i];
              if (!chunk) continue;
              const n = frames[j]!.strip(chunk);
              out[j]!.push(Buffer.from(chunk.subarray(0, n)));
            }
          }
          for (const j of [0, 1]) {
            assert.deepEqual(Buffer.concat(out[j]!), streams[j]!.payload);
            assert.equal(frames[j]!.rest, -1, "no stream saw its end: its CopyDone was not given");
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a message length below 4 is refused", () => {
    const bad = Buffer.from([0x64, 0, 0, 0, 3]);
    assert.throws(() => new CopyOutFrames().strip(bad), /malformed CopyOut message/);
  });
});

// On a real server.

let server: PostgresServer;
/** Rows as fast as the server makes them, for longer than any test waits (a set-returning function
 * in the select list streams; in FROM it would be materialized first). */
const ENDLESS = "(SELECT generate_series(1, 1000000000) AS i) s";
let db: Awaited<ReturnType<typeof pgDatabase>>;
const psqlBin = join(process.env.FERRY_PG_BIN ?? "/usr/lib/postgresql/15/bin", "psql");

/** What PostgreSQL's COPY prints, read by psql (libpq): the reference. */
async function psqlCopy(sql: string): Promise<Buffer> {
  const { stdout } = await promisify(execFile)(
    psqlBin,
    ["-X", "-h", server.socketDir, "-p", String(server.port), "-U", "postgres", "-d", db.name, "-c", sql],
    { encoding: "buffer", maxBuffer: 1 << 30, env: { ...process.env, PGTZ: "UTC" } },
  );
  return stdout;
}

async function connect(applicationName = "copy-out-test"): Promise<pg.Client> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: db.name,
    application_name: applicationName,
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** Backends of this test's database, other than the one asking. */
async function backends(where = "true"): Promise<number> {
  const r = await db.client.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ${where}`,
    [db.name],
  );
  return r.rows[0].n;
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("CopyOut reader on a real server", () => {
  before(async () => {
    server = await startPostgres();
    db = await pgDatabase(server);
    // ~9 MB of CSV in ~100k rows that CSV must quote, and three values of 300-700 KiB, far
    // larger than a socket chunk.
    await db.client.query(`
      CREATE TABLE t (id int, s text, n numeric, at timestamptz);
      INSERT INTO t SELECT i, CASE i % 4 WHEN 0 THEN 'plain ' || i WHEN 1 THEN E'quote " and, comma' || i
        WHEN 2 THEN E'line\\nbreak é 世界 ' || md5(i::text) ELSE NULL END, i / 7.0, timestamptz '2024-01-01Z' + i * interval '1 s'
        FROM generate_series(1, 100000) i;
      INSERT INTO t SELECT 100000 + k, repeat(md5(k::text) || E'",\\n', k * 8000), k, NULL FROM generate_series(1, 3) k;`);
  });
  after(async () => {
    await db?.client.end();
    await server?.stop();
  });

  const read = async (client: pg.Client, sql: string, signal?: AbortSignal) => {
    const chunks: Buffer[] = [];
    const result: { rowCount?: number } = {};
    for await (const c of copyOut(client, sql, signal, result)) chunks.push(Buffer.from(c));
    return { bytes: Buffer.concat(chunks), chunks: chunks.length, rowCount: result.rowCount };
  };

  test("yields byte for byte what PostgreSQL's COPY prints, over many chunks and rows larger than one", async () => {
    const sql = "COPY (SELECT * FROM t ORDER BY id) TO STDOUT WITH (FORMAT csv)";
    const client = await connect();
    try {
      await client.query("SET TimeZone = 'UTC'");
      const got = await read(client, sql);
      const want = await psqlCopy(sql);
      assert.ok(want.length > 8_000_000, `reference is ${want.length} bytes`);
      assert.ok(got.chunks > 100, `${got.chunks} chunks`);
      assert.equal(got.bytes.length, want.length);
      assert.ok(got.bytes.equals(want), "bytes differ from psql's");
      assert.equal(got.rowCount, 100_003);
      // pg has the connection back, idle.
      assert.equal((await client.query("SELECT 41 + 1 AS x")).rows[0].x, 42);
    } finally {
      await client.end();
    }
  });

  test("an empty result yields nothing and leaves the connection usable", async () => {
    const client = await connect();
    try {
      const got = await read(client, "COPY (SELECT * FROM t WHERE false) TO STDOUT WITH (FORMAT csv)");
      assert.equal(got.bytes.length, 0);
      assert.equal(got.rowCount, 0);
      assert.equal((await client.query("SELECT 1 AS x")).rows[0].x, 1);
    } finally {
      await client.end();
    }
  });

  test("a server error mid-stream is thrown with its SQLSTATE, after the rows before it", async () => {
    const client = await connect();
    try {
      const chunks: Buffer[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of copyOut(
            client,
            "COPY (SELECT i, 1/(i-5000) FROM generate_series(1,10000) i) TO STDOUT WITH (FORMAT csv)",
          ))
            chunks.push(Buffer.from(c));
        })(),
        (e: { code?: string; message: string }) => e.code === "22012" && /division by zero/.test(e.message),
      );
      const lines = Buffer.concat(chunks).toString().split("\n");
      // Whatever arrived before the error is whole rows in order (the server flushes every 8 KiB).
      for (let i = 1; i < lines.length; i++) assert.equal(lines[i - 1], `${i},${i === 4999 ? -1 : 0}`);
      // The error reached pg through the ordinary path: the client is idle again.
      assert.equal((await client.query("SELECT 1 AS x")).rows[0].x, 1);
    } finally {
      await client.end();
    }
  });

  test("a statement timeout mid-stream is thrown as PostgreSQL's 57014", async () => {
    const client = await connect();
    try {
      await client.query("SET statement_timeout = 300");
      const chunks: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of copyOut(
            client,
            "COPY (SELECT i, repeat('z', 200), pg_sleep(0.0005) FROM generate_series(1,100000) i) TO STDOUT WITH (FORMAT csv)",
          ))
            chunks.push(c.length);
        })(),
        (e: { code?: string }) => e.code === "57014",
      );
      assert.ok(chunks.length > 0, "rows arrived before the timeout");
    } finally {
      await client.end();
    }
  });

  test("a backend terminated mid-stream fails the copy with 57P01, which the source calls transient", async () => {
    const client = await connect("copy-out-terminated");
    try {
      await assert.rejects(
        (async () => {
          let first = true;
          for await (const _ of copyOut(client, `COPY (SELECT i FROM ${ENDLESS}) TO STDOUT`)) {
            if (!first) continue;
            first = false;
            await db.client.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'copy-out-terminated'",
            );
          }
        })(),
        (e: { code?: string }) => {
          assert.equal(e.code, "57P01");
          const classified = classifyPostgresError(e, { what: "PostgreSQL test" });
          assert.equal(classified.reason, "ServerUnavailable");
          assert.equal(classified.transient, true);
          return true;
        },
      );
    } finally {
      await client.end();
    }
  });

  test("through the source: a server error is a DataError and its connection is closed", async () => {
    const data = await fastPathBytes(
      new PostgresSource(postgresStore(server, db.name)),
      "SELECT i, 1/(i-5000) AS q FROM generate_series(1,10000) i",
    );
    await assert.rejects(
      (async () => {
        for await (const _ of data);
      })(),
      (e: DataPlaneError) => {
        assert.equal(e.reason, "DataError");
        assert.equal(e.transient, false);
        assert.match(e.message, /division by zero/);
        return true;
      },
    );
    await eventually(
      "the source's backend to exit",
      async () => (await backends("application_name = 'ferry'")) === 0,
    );
  });

  test("an abort mid-stream throws the signal's reason and closes the connection", async () => {
    const client = await connect("copy-out-abort");
    const controller = new AbortController();
    const reason = new Error("cancelled by the test");
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const c of copyOut(
          client,
          `COPY (SELECT i, repeat('x', 100) FROM ${ENDLESS}) TO STDOUT WITH (FORMAT csv)`,
          controller.signal,
        )) {
          received += c.length;
          if (received > 1_000_000) controller.abort(reason);
        }
      })(),
      (e) => e === reason,
    );
    // Closed by the reader itself, not only by the client.end() below.
    await eventually(
      "the backend to exit",
      async () => (await backends("application_name = 'copy-out-abort'")) === 0,
    );
    await client.end();
  });

  test("a consumer that stops early closes the connection", async () => {
    const client = await connect("copy-out-break");
    for await (const _ of copyOut(client, `COPY (SELECT i FROM ${ENDLESS}) TO STDOUT`)) break;
    await eventually(
      "the backend to exit",
      async () => (await backends("application_name = 'copy-out-break'")) === 0,
    );
    await client.end();
  });

  test("a consumer that falls behind holds the server back instead of buffering", async () => {
    const client = await connect("copy-out-slow");
    await db.client.query("CREATE SEQUENCE produced");
    // Each row the server makes takes a number, visible at once to other sessions.
    const produced = async () =>
      Number((await db.client.query("SELECT last_value FROM produced")).rows[0].last_value);
    try {
      const it = copyOut(
        client,
        `COPY (SELECT nextval('produced'), repeat('y', 200) FROM ${ENDLESS}) TO STDOUT`,
      );
      await it.next();
      let last = -1;
      await eventually("the server to stop producing", async () => {
        await new Promise((r) => setTimeout(r, 200));
        const now = await produced();
        const stopped = now === last;
        last = now;
        return stopped;
      });
      // What the socket buffers hold (the kernel's and Node's), far less than it would have sent.
      assert.ok(last * 210 < 32 << 20, `${last} rows produced while the consumer waited`);
      for (let i = 0; i < 50; i++) await it.next();
      await eventually("the server to produce again", async () => (await produced()) > last);
      await it.return();
    } finally {
      await client.end();
    }
  });
});

describe("CopyOut reader over TLS (the default tlsMode)", () => {
  let tls: PostgresServer;
  let tlsDb: Awaited<ReturnType<typeof pgDatabase>>;
  before(async () => {
    tls = await startPostgres({ tls: true });
    tlsDb = await pgDatabase(tls);
  });
  after(async () => {
    await tlsDb?.client.end();
    await tls?.stop();
  });

  test("the source's fast path reads the TLS socket the same way", async () => {
    const plain = postgresStore(tls, tlsDb.name);
    const data = await fastPathBytes(
      new PostgresSource({ ...plain, connection: { ...plain.connection, tlsMode: "Require" } }),
      "SELECT i, repeat(md5(i::text), 20) AS s FROM generate_series(1, 50000) i",
    );
    const chunks: Buffer[] = [];
    for await (const c of data) {
      if (chunks.length === 0) {
        const r = await tlsDb.client.query(
          "SELECT count(*)::int AS n FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'ferry' AND datname = $1",
          [tlsDb.name],
        );
        assert.equal(r.rows[0].n, 1, "the copy runs over TLS");
      }
      chunks.push(Buffer.from(c));
    }
    let want = "";
    for (let i = 1; i <= 50_000; i++)
      want += `${i},${createHash("md5").update(String(i)).digest("hex").repeat(20)}\n`;
    assert.ok(Buffer.concat(chunks).equals(Buffer.from(want)));
  });
});
