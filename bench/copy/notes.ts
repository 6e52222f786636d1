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
      "canonical text (timestamps as ISO 8601 with T and Z through two replace() calls, booleans as " +
      "true/false), and row (a') shows that costs the source itself: PostgreSQL alone no longer reaches " +
      "0.9x the plain pipe; (2) on 2 cores, the agent's own CPU competes with PostgreSQL and Azurite, " +
      "which the pipe already fills. Profile (2 x 1 M rows): per row ~0.15 us MurmurHash3, ~0.09 us the " +
      "file sha256, ~0.06 us stripping COPY's message headers (postgres-copy-out.ts, which replaced " +
      "pg-copy-streams and its Buffer per row: the copy's agent CPU went from 550-760 to 460-570 ms per " +
      "1 M rows), GC and the socket writes to Azurite. What would close it: canonical timestamps " +
      "PostgreSQL prints natively (a change of the canonical text, every connector and format).",
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
      "Parquet below 0.7x the pipe: the rows come through a cursor as JS values and hyparquet-writer, " +
      "pure JavaScript, encodes them. Profile (300 k rows): no single hot spot — GC 12% (a 100 k-row " +
      "row group held as JS arrays), UTF-8 decoding and re-encoding of every string, BigInt conversions " +
      "of timestamps and decimals, JS Snappy, statistics — the costs of a row-object path, 20x slower " +
      "than the pipe. What would close it: a columnar native writer fed from COPY's bytes (DuckDB's Node " +
      "API wrote 1 M rows in ~1.6 s when the issue was planned, ~2x hyparquet-writer), which is a new " +
      "native dependency to decide on; and a smaller row group bound to cut the memory it holds.",
  },
  {
    match: /large table$/,
    note:
      "Agent RSS above 256 MiB or growing with the table: the idle agent is ~105 MiB (its TypeScript " +
      "source; @kubernetes/client-node, ~80 MiB, is no longer loaded for token and certificate access); a " +
      "PostgreSQL-to-Blob copy loads pg and the Azure SDK, ~40 MiB; the parts share at most 16 reused 4 MiB " +
      "block buffers (block-pool.ts); the launcher sets MALLOC_ARENA_MAX=2 and a young generation of at " +
      "most 2 x 8 MiB, and the CopyOut reader makes no Buffer per row. Sampled during a 20 M-row copy, " +
      "the heap's live data stays ~22 MiB: what moves is the young generation and the block buffers in " +
      "flight. What would close it: bundled JavaScript for the idle size.",
  },
];

/** One note per kind of miss among the missed rows (named by their "copy" cell). */
export function missedNotes(missed: readonly string[]): string[] {
  return WHY.filter((w) => missed.some((m) => w.match.test(m))).map((w) => w.note);
}
