/**
 * The copy benchmark: `npm run bench -- copy [flags]`. One run measures, on one generated table,
 * the machine's limits (source alone, sink alone, the minimal pipe), Ferry through one real agent
 * in each format with and without partitioned reads, a peer (dlt) and a floor (psql \copy piped
 * into an upload), then a 20x larger table through Ferry for the agent's memory. It prints a table
 * of rates and ratios and appends it to bench/RESULTS.md. Ratios, not rates, are the result: every
 * number in a row was measured minutes apart on the same machine.
 *
 *   --rows N            the table (default 1,000,000)
 *   --large-rows N      the memory table (default 20,000,000; 0 skips it)
 *   --formats LIST      Ferry formats (default Csv,JsonLines,Parquet)
 *   --partitions N      partitions (and parallelism) of the partitioned runs (default 4)
 *   --peer LIST         dlt formats to run (default csv,jsonl,parquet; "none" skips dlt)
 *   --repeat N          best of N for every measured copy: the limits, Ferry's, the peer's, the
 *                       floor's (default 3; the large table runs once)
 *   --profile DIR       the agent writes a CPU profile (node --cpu-prof) there when it stops
 *   --no-record         print only; leave RESULTS.md alone
 */
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { type AzuriteServer, type PostgresServer, startAzurite, startPostgres } from "@ferry/hack/services";
import {
  type Cell,
  cpuSeconds,
  ownCpuSeconds,
  recordResult,
  serverPid,
  stolenSeconds,
  table,
  treeCpuSeconds,
} from "../src/index.ts";
import { type Cpu, type CpuMeter, cpuMeter } from "./cpu-meter.ts";
import { COLUMNS, createTable } from "./data.ts";
import { type Ferry, type FerryRun, type Format, startFerry } from "./ferry.ts";
import {
  containerOf,
  ferryCopyStatement,
  type Measured,
  minimalPipe,
  sinkAlone,
  sourceAlone,
} from "./limits.ts";
import { missedNotes } from "./notes.ts";
import { type DltFormat, ensureDlt, runDlt, runFloor } from "./peer.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    "large-rows": { type: "string", default: "20000000" },
    formats: { type: "string", default: "Csv,JsonLines,Parquet" },
    partitions: { type: "string", default: "4" },
    peer: { type: "string", default: "csv,jsonl,parquet" },
    repeat: { type: "string", default: "3" },
    profile: { type: "string" },
    "no-record": { type: "boolean", default: false },
  },
});

const ROWS = Number(values.rows);
const LARGE = Number(values["large-rows"]);
const FORMATS = values.formats.split(",").filter(Boolean) as Format[];
const PARTITIONS = Number(values.partitions);
const PEER = values.peer === "none" ? [] : (values.peer.split(",").filter(Boolean) as DltFormat[]);
const REPEAT = Math.max(1, Number(values.repeat));
const BLOCK_SIZES_MIB = [1, 4, 8, 16];
const IN_FLIGHT = [2, 4];
const DLT_FORMAT: Record<Format, DltFormat> = { Csv: "csv", JsonLines: "jsonl", Parquet: "parquet" };
const MIB = 2 ** 20;

const log = (m: string) => console.error(`[bench copy] ${m}`);
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "-";
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");

async function best<T extends { seconds: number }>(times: number, fn: () => Promise<T>): Promise<T> {
  let out: T | undefined;
  for (let i = 0; i < times; i++) {
    const r = await fn();
    if (!out || r.seconds < out.seconds) out = r;
  }
  return out!;
}

/**
 * The fastest of `times` runs of each of `a` and `b`, run alternately (a, b, a, b, ...): a slow
 * phase of this shared machine then falls on both sides of a ratio, not on one.
 */
async function bestAlternating<A extends { seconds: number }, B extends { seconds: number }>(
  times: number,
  a: () => Promise<A>,
  b: () => Promise<B>,
): Promise<[A, B]> {
  let outA: A | undefined;
  let outB: B | undefined;
  for (let i = 0; i < times; i++) {
    const ra = await a();
    if (!outA || ra.seconds < outA.seconds) outA = ra;
    const rb = await b();
    if (!outB || rb.seconds < outB.seconds) outB = rb;
  }
  return [outA!, outB!];
}

interface Row {
  what: string;
  rows: number;
  m: Measured & { cpu?: Cpu };
  /** For Ferry's rows: the pipe's best time in runs alternated with this row's (the ratio's denominator). */
  pairedPipe?: number;
  vsPipe?: number;
  vsPeer?: number;
  rss?: number;
  target?: string;
  met?: boolean;
}

const rowsPerSecond = (r: Row) => r.rows / r.m.seconds;

const busy = (c: Cpu) => (c.source + c.mover + c.sink) / c.window;

/** The hypervisor's steal over the row's window, as a share of this machine's cores. */
const stolenShare = (c: Cpu) => `${((c.stolen / (c.window * availableParallelism())) * 100).toFixed(0)} %`;

function cpuCell(r: Row): string {
  const c = r.m.cpu;
  if (!c) return "";
  const per = (s: number) => ((s / r.rows) * 1e6).toFixed(2);
  return `${per(c.source)} / ${per(c.mover)} / ${per(c.sink)}`;
}

/** Runs `fn` inside a CPU meter: for the limits, whose whole run is the measured copy. */
async function withCpu<T extends Measured>(meter: CpuMeter, fn: () => Promise<T>): Promise<T & { cpu: Cpu }> {
  await meter.start();
  const r = await fn();
  return { ...r, cpu: await meter.stop() };
}

async function main(): Promise<void> {
  const command = `npm run bench -- copy${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  const started = performance.now();
  const stolenAtStart = await stolenSeconds();
  let pg: PostgresServer | undefined;
  let azurite: AzuriteServer | undefined;
  let ferry: Ferry | undefined;
  try {
    [pg, azurite] = await Promise.all([startPostgres(), startAzurite()]);
    if (values.profile) await mkdir(values.profile, { recursive: true });
    const dlt = PEER.length > 0 ? ensureDlt(log) : undefined;
    ferry = await startFerry(pg, azurite, { ...(values.profile ? { profileDir: values.profile } : {}), log });
    const db = ferry.database;
    const [postmaster, azuritePid] = await Promise.all([serverPid(pg.dir), serverPid(azurite.dir)]);
    const sides = { source: () => treeCpuSeconds(postmaster), sink: () => treeCpuSeconds(azuritePid) };
    const agentPid = ferry.agentPid;
    const limitsMeter = cpuMeter(sides, ownCpuSeconds);
    const ferryMeter = cpuMeter(sides, () => cpuSeconds(agentPid));
    const loaded = await createTable(pg, db, "items", ROWS);
    log(`items: ${fmt(ROWS)} rows loaded in ${loaded.seconds.toFixed(1)} s`);
    if (LARGE > 0 && FORMATS.includes("Csv")) {
      const l = await createTable(pg, db, "items_large", LARGE);
      log(`items_large: ${fmt(LARGE)} rows loaded in ${l.seconds.toFixed(1)} s`);
    }
    const limits = containerOf(azurite, "limits");
    await limits.create();

    // (a) and (b): the bytes of (a) are what (b) stages.
    const bytes: Buffer[] = [];
    await sourceAlone(pg, db, "items", bytes);
    const source = await best(REPEAT, () => withCpu(limitsMeter, () => sourceAlone(pg!, db, "items")));
    // The same rows as Ferry's fast path asks for them: every value in its canonical text.
    const ferrySql = await ferryCopyStatement(pg, db, "items");
    const projected = await best(REPEAT, () =>
      withCpu(limitsMeter, () => sourceAlone(pg!, db, "items", undefined, ferrySql)),
    );
    log(`source alone, Ferry's CSV statement: ${fmt(ROWS / projected.seconds)} rows/s`);
    let sink: (Measured & { cpu: Cpu; blockSize: number; inFlight: number }) | undefined;
    for (const mib of BLOCK_SIZES_MIB) {
      for (const inFlight of IN_FLIGHT) {
        const m = await best(REPEAT, () =>
          withCpu(limitsMeter, () => sinkAlone(limits, bytes, mib * MIB, inFlight)),
        );
        log(
          `sink alone, ${mib} MiB blocks, ${inFlight} in flight: ${fmt(m.bytes / m.seconds / MIB, 1)} MiB/s, ` +
            `Azurite CPU ${((m.cpu.sink / ROWS) * 1e6).toFixed(2)} s per 1 M rows`,
        );
        if (!sink || m.seconds < sink.seconds) sink = { ...m, blockSize: mib * MIB, inFlight };
      }
    }
    bytes.length = 0;
    const block = { blockSize: sink!.blockSize, inFlight: sink!.inFlight };
    // (c) one stream, and as many as the partitioned runs read; the faster is the limit.
    const pipe1 = await best(REPEAT, () =>
      withCpu(limitsMeter, () =>
        minimalPipe(pg!, db, "items", limits, { ...block, partitions: 1, rows: ROWS }),
      ),
    );
    const pipeP = await best(REPEAT, () =>
      withCpu(limitsMeter, () =>
        minimalPipe(pg!, db, "items", limits, { ...block, partitions: PARTITIONS, rows: ROWS }),
      ),
    );
    const pipe = pipe1.seconds <= pipeP.seconds ? pipe1 : pipeP;
    const pipeStreams = pipe === pipe1 ? 1 : PARTITIONS;
    const pipeRate = ROWS / pipe.seconds;
    // Each Ferry row's ratio is to this pipe run again, alternately with that row's own runs.
    const pipeAgain = () =>
      minimalPipe(pg!, db, "items", limits, { ...block, partitions: pipeStreams, rows: ROWS });
    const rows: Row[] = [
      { what: "(a) source alone: COPY TO STDOUT, dropped", rows: ROWS, m: source },
      {
        what: "(a') source alone, Ferry's CSV statement",
        rows: ROWS,
        m: projected,
        vsPipe: ROWS / projected.seconds / pipeRate,
      },
      {
        what: `(b) sink alone: staged blocks (${sink!.blockSize / MIB} MiB, ${sink!.inFlight} in flight)`,
        rows: ROWS,
        m: sink!,
      },
      { what: "(c) minimal pipe, 1 stream", rows: ROWS, m: pipe1, vsPipe: ROWS / pipe1.seconds / pipeRate },
      {
        what: `(c) minimal pipe, ${PARTITIONS} streams`,
        rows: ROWS,
        m: pipeP,
        vsPipe: ROWS / pipeP.seconds / pipeRate,
      },
    ];

    // The large table: memory must stay flat. It is copied right after the small table in CSV, so
    // both peaks start from the same heap (a Parquet copy before would leave the heap grown).
    let memory: { small: number; large: number; early: number; late: number; row: Row } | undefined;
    const largeRows: Row[] = [];
    const copyLarge = async () => {
      const pipeL = await withCpu(limitsMeter, () =>
        minimalPipe(pg!, db, "items_large", limits, { ...block, partitions: PARTITIONS, rows: LARGE }),
      );
      largeRows.push({ what: `(c) minimal pipe, ${PARTITIONS} streams, large table`, rows: LARGE, m: pipeL });
      const r = await ferry!.copy(
        {
          table: "public.items_large",
          rows: LARGE,
          format: "Csv",
          partitions: PARTITIONS,
          parallelism: PARTITIONS,
        },
        ferryMeter,
      );
      const smallPeak = small.get("Csv")!.peakRss;
      // Flat: the RSS sampled over the copy's last three quarters (5 M rows on, at the default
      // size) stays within 32 MiB of its first quarter's. Both halves of the comparison come from
      // the same copy: a peak of another copy varies by tens of MiB with when its GCs fell.
      const quarter = r.wallSeconds / 4;
      const peakOf = (samples: FerryRun["rssTrace"]) => Math.max(0, ...samples.map((s) => s.rss));
      const early = peakOf(r.rssTrace.filter((s) => s.at <= quarter));
      const late = peakOf(r.rssTrace.filter((s) => s.at > quarter));
      const row: Row = {
        what: `Ferry Csv, ${PARTITIONS} partitions, large table`,
        rows: LARGE,
        m: r,
        vsPipe: LARGE / r.seconds / (LARGE / pipeL.seconds),
        rss: r.peakRss,
        target: "RSS < 256 MiB, flat",
        met: r.peakRss < 256 * MIB && early > 0 && late <= early + 32 * MIB,
      };
      memory = { small: smallPeak, large: r.peakRss, early, late, row };
      largeRows.push(row);
      await pg!.psql("DROP TABLE items_large", db);
    };

    // Ferry through the agent.
    const ferryRuns = new Map<string, Row>();
    const small = new Map<Format, FerryRun>();
    for (const format of FORMATS) {
      for (const partitions of new Set([1, PARTITIONS])) {
        // The fastest run's time, the highest peak of all runs: memory is not given the benefit of the doubt.
        let peakRss = 0;
        const [paired, fastest] = await bestAlternating(REPEAT, pipeAgain, async () => {
          const run = await ferry!.copy(
            { table: "public.items", rows: ROWS, format, partitions, parallelism: partitions },
            ferryMeter,
          );
          peakRss = Math.max(peakRss, run.peakRss);
          return run;
        });
        const r = { ...fastest, peakRss };
        if (!small.has(format) || r.peakRss > small.get(format)!.peakRss) small.set(format, r);
        const row: Row = {
          what: `Ferry ${format}, ${partitions === 1 ? "1 partition" : `${partitions} partitions`}`,
          rows: ROWS,
          m: r,
          pairedPipe: paired.seconds,
          vsPipe: paired.seconds / r.seconds,
          rss: r.peakRss,
        };
        if (format === "Csv") row.target = ">= 0.9x pipe";
        if (format === "Parquet") row.target = ">= 0.7x pipe";
        if (row.target) row.met = row.vsPipe! >= (format === "Csv" ? 0.9 : 0.7);
        log(
          `${row.what}: ${fmt(ROWS / r.seconds)} rows/s (${ratio(row.vsPipe!)} the pipe beside it, ${paired.seconds.toFixed(2)} s), peak RSS ${fmt(r.peakRss / MIB)} MiB`,
        );
        ferryRuns.set(`${format}/${partitions}`, row);
        rows.push(row);
      }
      if (format === "Csv" && LARGE > 0) await copyLarge();
    }

    // The peer and the floor.
    const peer = new Map<DltFormat, Row>();
    if (dlt) {
      const python = await dlt;
      for (const f of PEER) {
        const m = await best(REPEAT, () => runDlt(python, pg!, db, "items", azurite!, "limits", f));
        if (m.rows !== ROWS) throw new Error(`dlt ${f} loaded ${m.rows} rows of ${ROWS}`);
        const row: Row = {
          what: `peer: dlt ${f} (pyarrow backend)`,
          rows: ROWS,
          m,
          vsPipe: ROWS / m.seconds / pipeRate,
        };
        log(`${row.what}: ${fmt(ROWS / m.seconds)} rows/s`);
        peer.set(f, row);
        rows.push(row);
      }
    }
    const floor = await best(REPEAT, () => runFloor(pg!, db, "items", limits));
    rows.push({
      what: "floor: psql \\copy | uploadStream",
      rows: ROWS,
      m: floor,
      vsPipe: ROWS / floor.seconds / pipeRate,
    });
    for (const [key, row] of ferryRuns) {
      const p = peer.get(DLT_FORMAT[key.split("/")[0] as Format]);
      if (!p) continue;
      row.vsPeer = rowsPerSecond(row) / rowsPerSecond(p);
      const ok = row.vsPeer >= 2;
      row.target = row.target ? `${row.target}, >= 2x peer` : ">= 2x peer";
      row.met = (row.met ?? true) && ok;
    }

    rows.push(...largeRows);
    const header = [
      "copy",
      "rows",
      "s",
      "rows/s",
      "MiB/s",
      "÷ pipe",
      "pipe s beside it",
      "÷ peer",
      "agent peak RSS",
      "CPU s per 1 M rows: PostgreSQL / mover / Azurite",
      "cores busy",
      "stolen",
      "target",
      "met",
    ];
    const cells: Cell[][] = rows.map((r) => [
      r.what,
      fmt(r.rows),
      r.m.seconds.toFixed(2),
      fmt(rowsPerSecond(r)),
      fmt(r.m.bytes / r.m.seconds / MIB, 1),
      r.vsPipe !== undefined ? ratio(r.vsPipe) : "",
      r.pairedPipe !== undefined ? r.pairedPipe.toFixed(2) : "",
      r.vsPeer !== undefined ? ratio(r.vsPeer) : "",
      r.rss !== undefined ? `${fmt(r.rss / MIB)} MiB` : "",
      cpuCell(r),
      r.m.cpu ? busy(r.m.cpu).toFixed(2) : "",
      r.m.cpu ? stolenShare(r.m.cpu) : "",
      r.target ?? "",
      r.met === undefined ? "" : r.met ? "met" : "MISSED",
    ]);
    const out = table(header, cells);
    const missed = rows.filter((r) => r.met === false);
    const notes = [
      `Table: ${COLUMNS} columns (bigint key, int, quoted text, numeric(12,2), timestamptz, boolean, nullable text), ` +
        `${fmt(pipe.bytes / ROWS)} bytes a row as CSV. "pipe" is the faster (c) (here ${pipeStreams === 1 ? "1 stream" : `${pipeStreams} streams`}); ratios are of rows/s. ` +
        `A Ferry row's ÷ pipe is to that pipe run again ${REPEAT} times alternately with the row's own runs ` +
        `("pipe s beside it": the fastest of those), so a slow phase of the machine falls on both sides; the other rows' ` +
        `÷ pipe are to the (c) rows above. ` +
        `Ferry's times are the agent's attempt (plan, copy, manifest, status); every copy was checked exact against its manifest. ` +
        `Each row is the fastest of ${REPEAT} runs (the large table's, one run); a Ferry row's peak RSS is the highest of its runs. ` +
        `CPU: user + system time from /proc while the row ran — PostgreSQL with its backends, the mover (this process for ` +
        `(a)-(c), the agent for Ferry), Azurite; "cores busy" is their sum over the row's wall time (for Ferry, from the ` +
        `CopyJob's creation until it was seen Succeeded), of the ${availableParallelism()} this machine has. ` +
        `"stolen": the time the hypervisor gave other guests while this machine's cores wanted to run (/proc/stat ` +
        `steal), as a share of its cores over the row's window; a row that ran slow with a high share ran slow for ` +
        `someone else's load (contention that shows no steal, such as a busy sibling hyperthread, is not counted).` +
        (memory
          ? ` Agent peak RSS: ${fmt(memory.small / MIB)} MiB for ${fmt(ROWS)} rows, ${fmt(memory.large / MIB)} MiB for ${fmt(LARGE)}; ` +
            `sampled every 100 ms during the large copy, ${fmt(memory.early / MIB)} MiB at most in its first quarter and ` +
            `${fmt(memory.late / MIB)} MiB in the rest ("flat": the rest within 32 MiB of the first quarter).`
          : ""),
      ...missedNotes(missed.map((r) => r.what)),
      `Whole run: ${((performance.now() - started) / 60_000).toFixed(1)} min, ` +
        `${((((await stolenSeconds()) - stolenAtStart) / (((performance.now() - started) / 1000) * availableParallelism())) * 100).toFixed(0)} % of it stolen.`,
    ];
    console.log(`\n${out}\n\n${notes.join("\n\n")}`);
    if (!values["no-record"]) await recordResult("copy", command, `${out}\n\n${notes.join("\n\n")}`);
  } finally {
    await ferry?.stop().catch((err: unknown) => log(`stopping Ferry: ${String(err)}`));
    await Promise.all([pg?.stop(), azurite?.stop()]);
  }
}

await main();
