/**
 * Why a target is missed, as profiles of the agent (`--profile DIR`, node --cpu-prof) showed it.
 * Kept next to the benchmark so every recorded run that misses a target carries its explanation;
 * whoever changes the data plane re-profiles and updates these.
 */

const WHY: { match: RegExp; note: string }[] = [
  {
    match: /^Ferry Csv, \d+ partitions?$/,
    note:
      "CSV below 0.9x the pipe: the CPU columns say why. The pipe keeps both cores busy (~1.8 of 2) " +
      "on ~1.1-1.5 s of CPU per 1 M rows (PostgreSQL ~0.5-0.7, its mover ~0.35-0.5, Azurite " +
      "~0.2-0.35). Ferry spends ~1.5-1.7: (1) PostgreSQL no more than for the plain COPY (row a'): " +
      "the agent makes timestamps and booleans canonical itself (connectors/postgres-text.wat), where " +
      "the canonical projection cost PostgreSQL ~0.15-0.25 s; (2) the agent ~0.35-0.6 against the " +
      "mover's ~0.35-0.5: per 1 M rows in its profile, that rewrite ~0.05-0.1 with its copies in and " +
      "out of WebAssembly memory, the record hash (formats/csv-records.wat) ~0.06-0.1, sha256 of the " +
      "file ~0.06-0.1, stripping COPY's message headers ~0.015 (connectors/postgres-copy-out.wat), " +
      "GC ~0.05 (~0.15, and a third of the agent's CPU with the barriers and caches it costs, before " +
      "the launcher's --initial-old-space-size=64 stopped 7-11 full GCs a copy); (3) Azurite ~0.4-0.6 against " +
      "~0.2-0.35: the agent stages 4 MiB blocks where the pipe stages 8-16 MiB. The same 73 MB staged " +
      "through the agent's sink alone, in alternating runs, cost Azurite 0.39-0.42 s in 4 MiB blocks, " +
      "0.31-0.35 in 8 MiB and 0.33-0.34 in 16 MiB; the bench's own uploader cost it the same as the " +
      "sink at 4 MiB. In this benchmark, 8 MiB blocks (a budget of 8, the same 64 MiB) gave 0.93-0.96 " +
      "for 4 partitions against 0.86-0.89 in two alternating rounds, but the large table then peaked " +
      "at 269 MiB, over its target, so the default stays 4 MiB. And it keeps " +
      "the cores less busy (~1.6): the attempt's steps around the copy (the plan, ~25-55 ms; " +
      "checkpoint, manifest, status: ~30-80 ms in all) run one after the other. What would close it: " +
      "one pass over the bytes in the agent (strip, rewrite and hash in one WebAssembly call, without " +
      "the copies between them), or cores of its own for the source. Run to run, the same copy's " +
      "time varies by ~20% on this shared machine, the pipe's too: on a slow machine the pipe's mover " +
      "(a Buffer per row) slows more than the agent, and CSV meets the target.",
  },
  {
    match: /^Ferry JsonLines/,
    note:
      "JSON Lines below 2x the peer: it reads the same COPY of the canonical projection as the CSV " +
      "fast path, and formats/jsonl-csv.ts copies each record's fields into its object (keys, quotes " +
      "and JSON escapes added byte by byte, no string per row), ~1.3-1.4 s of agent CPU per 1 M rows " +
      "where the cursor path (FETCH, pg's row parsing, a JS array and two strings per row) took " +
      "4.2-4.9 s. Tables with float columns still take the cursor path (COPY's float text is not " +
      "always the canonical one). What would close it: the per-byte copy in larger steps (the runs " +
      "between bytes that need escaping copied at once).",
  },
  {
    match: /^Ferry Parquet/,
    note:
      "Parquet below 0.7x the pipe: a Parquet sink reads the same COPY of the canonical projection as " +
      "the CSV fast path. The records' fields are parsed where they lie into typed column stages in " +
      "WebAssembly (formats/parquet-fields.wat), moved into the column buffers a run at a time, and " +
      "the pages compressed by formats/snappy.wat, where the row path (cursor rows as JS values " +
      "through hyparquet-writer) took ~8 us a row. The agent spends ~0.75-0.85 s of CPU per 1 M rows " +
      "(it was ~1.2-1.3 with both in JavaScript); encoding alone, in one process from generated " +
      "canonical CSV, takes ~0.3 s of that (parsing ~0.2, Snappy ~0.1, the record hash ~0.05), the " +
      "rest is what the CSV copy's agent also spends (reading COPY, the file's sha256, the upload). " +
      "PostgreSQL's canonical projection costs it ~0.1-0.2 s over the plain COPY. With ~1.6-1.9 CPU-s " +
      "on 2 cores, a copy cannot take much less than ~0.85-0.95 s where the pipe takes ~0.7-0.8, and " +
      "the machine's slow phases move the ratio by +-0.1 from run to run. Making timestamps and " +
      "booleans canonical in the agent instead (postgres-text.wat, as for CSV) measured the same in " +
      "alternating runs (0.91/0.80 and 0.85/0.80 against 0.75/0.84 and 0.94/0.85): PostgreSQL's CPU " +
      "falls as much as the agent's rises. What would close it: fewer CPU-seconds per row in total, " +
      "the largest remaining being PostgreSQL's projection and the agent's read of COPY. The peak RSS " +
      "of this row is the agent's high-water mark so far: JSON Lines ran before it in the same process " +
      "(alone, a 1 M-row Parquet copy peaked at 151-179 MiB).",
  },
  {
    match: /large table$/,
    note:
      "Agent RSS above 256 MiB, or more than 32 MiB higher after the large copy's first quarter than in it: the idle agent is ~105 MiB " +
      "(its TypeScript source); a PostgreSQL-to-Blob copy loads pg and the Azure SDK, ~40 MiB; the parts " +
      "share at most 16 reused 4 MiB block buffers (block-pool.ts); the launcher sets MALLOC_ARENA_MAX=2, " +
      "a young generation of at most 2 x 8 MiB and an old one that starts at 64 MiB (fewer full GCs, " +
      "~10 MiB more at the peak); the CopyOut reader makes no Buffer per row. Sampled " +
      "every 250 ms during a 20 M-row copy, the heap stays at 21-30 MiB used; what rises is ArrayBuffer " +
      "memory, up to ~50 MiB during the 1 M-row copies and between 40 and 93 MiB once the four parts " +
      "run at full rate, level from the first seconds to the end, so it follows how full the pipeline gets, not the " +
      "table's size (the 1 M-row copies end within a second). A budget of 8 blocks instead of 16 left " +
      "the peak unchanged (219 MiB both), so the rest is buffered outside the pool, in the COPY " +
      "stream's socket chunks or the HTTP requests to the sink. What would close it: find that buffer " +
      "(a heap snapshot at the peak) and bound it as the pool bounds blocks.",
  },
];

/** One note per kind of miss among the missed rows (named by their "copy" cell). */
export function missedNotes(missed: readonly string[]): string[] {
  return WHY.filter((w) => missed.some((m) => w.match.test(m))).map((w) => w.note);
}
