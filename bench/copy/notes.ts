/**
 * Why a target is missed, as profiles of the agent (`--profile DIR`, node --cpu-prof) showed it.
 * Kept next to the benchmark so every recorded run that misses a target carries its explanation;
 * whoever changes the data plane re-profiles and updates these.
 */

const WHY: { match: RegExp; note: string }[] = [
  {
    match: /^Ferry Csv, \d+ partitions?$/,
    note:
      "CSV below 0.9x the pipe: COPY's bytes go to the blob as they come (no re-encoding), but the agent " +
      "parses every record to count it and to add sha256(canonical row text) to the part's content " +
      "checksum, the manifest's proof of which rows a part holds. Profile (2 M rows): per row about 0.7 us " +
      "splitting the record, 0.7 us building its canonical text (JSON.stringify of the fields), 0.4-0.7 us " +
      "hashing, plus GC of those strings: about 2.5 us a row of agent CPU, where the pipe spends almost " +
      "none, on a machine whose 2 cores PostgreSQL (one COPY stream is one core) and Azurite already fill. " +
      "A latin1 digest instead of a Buffer one made the hash 2.5x cheaper; string-level rewrites of the " +
      "canonical text measured no faster than JSON.stringify. What would close it: hash records from the " +
      "bytes without making JS strings (a batched native or WebAssembly SHA-256 over a chunk's record " +
      "offsets), and spread the checksum of partitioned reads over worker threads on nodes with more cores; " +
      "or a cheaper content checksum (a CRD and manifest change, not done here).",
  },
  {
    match: /^Ferry JsonLines/,
    note:
      "JSON Lines below 2x the peer: it reads through the cursor path (FETCH, pg's row parsing, one JS " +
      "array per row), then builds each row's canonical text for the checksum and its JSON object for " +
      "the file — two strings per row. Profile (300 k rows): GC, the per-value JSON encoding, rowText and " +
      "the hash, UTF-8 decoding. What would close it: read COPY's CSV bytes as the CSV fast path does and " +
      "write each object from the parsed fields, hashing the field array's JSON text, which is the " +
      "canonical row text already (one JSON.stringify serves both when every column is text-like).",
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
      "Agent RSS: the agent runs its TypeScript source, and the Kubernetes client alone costs ~70 MiB; " +
      "connector drivers now load when a DataStore of their type is first used and the CRD validators are " +
      "not loaded (the agent's modules: 191 -> 164 MiB), but a PostgreSQL-to-Blob copy still loads pg and " +
      "the Azure SDK (~40 MiB). A copy adds its block buffers (3 x 4 MiB per partition) and the heap's " +
      "garbage headroom. The large table's peak was ~100-120 MiB above the small one's: not explained yet — " +
      "the next step is a heap profile of the agent during the large copy (node --heap-prof, or heap " +
      "snapshots a minute apart) to tell V8 growing its old space under a long stream of garbage strings " +
      "from a real accumulation. What would close the absolute bound: ship the agent as bundled " +
      "JavaScript, and cap the old space (--max-old-space-size) in the pod to the memory limit.",
  },
];

/** One note per kind of miss among the missed rows (named by their "copy" cell). */
export function missedNotes(missed: readonly string[]): string[] {
  return WHY.filter((w) => missed.some((m) => w.match.test(m))).map((w) => w.note);
}
