/**
 * Why a target is missed, as profiles of the agent (`--profile DIR`, node --cpu-prof) showed it.
 * Kept next to the benchmark so every recorded run that misses a target carries its explanation;
 * whoever changes the data plane re-profiles and updates these.
 */

const WHY: { match: RegExp; note: string }[] = [
  {
    match: /^Ferry Csv, \d+ partitions?$/,
    note:
      "CSV below 0.9x the pipe: COPY's bytes go to the blob as they come; the agent finds each record's " +
      "end (two memchr calls) and adds MurmurHash3 of its bytes to the part's content checksum, ~160 ns " +
      "a row, where it used to split, JSON-encode and sha256 every row (~2.5 us; 0.21x the pipe then). " +
      "What is left: (1) the canonical projection — the fast path asks PostgreSQL for every value in its " +
      "canonical text (timestamptz shifted to UTC and printed as a timestamp, one replace() and a Z; " +
      "booleans as true/false), and row (a') shows that costs the source itself: its cheapest measured " +
      "form (postgresProjection) still adds ~150 ms per 1 M rows of this table to PostgreSQL's ~450, so " +
      "PostgreSQL alone reaches only 0.8-0.9x the plain pipe, and the copy's stream cannot be faster " +
      "than its source; (2) on 2 cores, the agent's own CPU competes with PostgreSQL and Azurite, " +
      "which the pipe already fills. Profile (2 x 1 M rows): per row ~0.15 us MurmurHash3, ~0.09 us the " +
      "file sha256, ~0.06 us stripping COPY's message headers (postgres-copy-out.ts, which replaced " +
      "pg-copy-streams and its Buffer per row: the copy's agent CPU went from 550-760 to 460-570 ms per " +
      "1 M rows), GC and the socket writes to Azurite. The attempt's fixed part is ~60-80 ms (the plan, " +
      "~25 ms on the connection the partition then reuses; the checkpoint, manifest and status). What " +
      "would close it: canonical timestamps PostgreSQL prints natively (a change of the canonical text, " +
      "every connector and format), or cores of its own for the source.",
  },
  {
    match: /^Ferry JsonLines/,
    note:
      "JSON Lines below 2x the peer: it reads through the cursor path (FETCH, pg's row parsing, one JS " +
      "array per row), then builds each row's canonical text for the checksum and its JSON object for " +
      "the file — two strings per row. Profile (300 k rows): GC, the per-value JSON encoding, the " +
      "canonical record and its hash, UTF-8 decoding. What would close it: read COPY's CSV bytes as the " +
      "CSV fast path does, hash each record's bytes where they lie, and write each object from the " +
      "parsed fields.",
  },
  {
    match: /^Ferry Parquet/,
    note:
      "Parquet below 0.7x the pipe: a Parquet sink reads the same COPY of the canonical projection as " +
      "the CSV fast path, and formats/parquet-csv.ts parses each record's fields where they lie into " +
      "typed column buffers (PLAIN pages, its own Snappy), ~0.5 us a row (parsing ~0.4, Snappy ~0.1), " +
      "where the row path (cursor rows as JS values through hyparquet-writer) took ~8 us: 1 M rows in " +
      "~1.1-1.5 s instead of 7-11 s. What is left is CPU on 2 cores: PostgreSQL's canonical projection " +
      "alone takes row (a')'s time, and the agent's parsing, hashing and compression run beside it and " +
      "Azurite. What would close it: the encoder (or its compression) in a worker thread, and canonical " +
      "timestamps PostgreSQL prints natively, as for CSV. The peak RSS of this row is the agent's " +
      "high-water mark so far: JSON Lines ran before it in the same process (alone, a 1 M-row Parquet " +
      "copy peaked at 151-179 MiB).",
  },
  {
    match: /large table$/,
    note:
      "Agent RSS above 256 MiB or more than 32 MiB over the 1 M-row peak: the idle agent is ~105 MiB " +
      "(its TypeScript source); a PostgreSQL-to-Blob copy loads pg and the Azure SDK, ~40 MiB; the parts " +
      "share at most 16 reused 4 MiB block buffers (block-pool.ts); the launcher sets MALLOC_ARENA_MAX=2 " +
      "and a young generation of at most 2 x 8 MiB; the CopyOut reader makes no Buffer per row. Sampled " +
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
