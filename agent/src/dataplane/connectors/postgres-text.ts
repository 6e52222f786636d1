/**
 * PostgreSQL's own text of timestamps and booleans made canonical in the COPY stream, by the agent
 * instead of by PostgreSQL. In the canonical dialect the CSV fast path selects these columns as
 * PostgreSQL prints them (timestamptz shifted to UTC, which costs PostgreSQL nothing measurable)
 * and postgres-text.wasm puts in the "T", the "Z" and "true"/"false" (postgres-text.wat says how):
 * the canonical projection's replace(...) || 'Z' and CASE cost the source ~0.1-0.2 s of CPU per
 * 1 M benchmark rows, on cores it shares with the agent, and this pass costs the agent a fraction
 * of that. The bytes that leave are the projection's, byte for byte (postgres.test.ts compares
 * them, edge cases included, with the row path's).
 *
 * Chunks are rewritten a window at a time, complete records only (CsvRecordRuns, as the record
 * hash does); the rest waits for the next chunk. A record longer than a window is rewritten by an
 * instance of its own.
 */

import { CsvRecordRuns } from "../formats/csv-records.ts";
import type { ColumnKind, Schema } from "../types.ts";
import { instantiate, type WasmMemory } from "../wasm.ts";

const QUOTE = 0x22;
/** Input bytes per call into the module, unless one record needs more. */
const WINDOW = 256 << 10;
/** Column codes of postgres-text.wat. */
const CODES: Partial<Record<ColumnKind, number>> = { timestamp: 1, timestamptz: 2, boolean: 3 };
/** At most 1600 columns in a PostgreSQL table. */
const MAX_COLUMNS = 2048;

/** The module's code of each column, or undefined when no column needs rewriting. */
export function postgresTextCodes(schema: Schema): Uint8Array | undefined {
  const codes = Uint8Array.from(schema, (c) => CODES[c.kind] ?? 0);
  return codes.some((c) => c !== 0) ? codes : undefined;
}

/** Whether the agent, not the projection, makes a column of this kind canonical (see the header). */
export function rewrittenKind(kind: ColumnKind): boolean {
  return CODES[kind] !== undefined;
}

interface Module {
  memory: WasmMemory;
  rewrite(start: number, end: number, out: number, codes: number, ncols: number): number;
  consumed: { value: number };
}

/**
 * Memory: the input window at 0, the codes after it, then the output: growth is at most 4 bytes a
 * field (a boolean) and a record has at least one byte a field, so 5 times the window holds it.
 */
class Rewriter {
  private readonly module: Module;
  private readonly bytes: Uint8Array;
  private readonly codesAt: number;
  private readonly outAt: number;
  constructor(window: number) {
    this.codesAt = window + 16;
    this.outAt = this.codesAt + MAX_COLUMNS;
    this.module = instantiate<Module>(
      new URL("./postgres-text.wasm", import.meta.url),
      this.outAt + 5 * window + 16,
    );
    this.bytes = new Uint8Array(this.module.memory.buffer);
  }

  /**
   * Rewrites the complete records of b[from, from + length) (length at most the window); returns
   * the output (a copy) and how many input bytes its records took.
   */
  rewrite(b: Uint8Array, from: number, length: number, codes: Uint8Array): { out: Buffer; taken: number } {
    const { bytes } = this;
    bytes.set(b.subarray(from, from + length), 0);
    bytes.set(codes, this.codesAt);
    const end = this.module.rewrite(0, length, this.outAt, this.codesAt, codes.length);
    // Not Buffer.from(view): that zero-fills the new buffer before copying into it.
    const out = Buffer.allocUnsafe(end - this.outAt);
    out.set(bytes.subarray(this.outAt, end));
    return { out, taken: this.module.consumed.value };
  }
}

let shared: Rewriter | undefined;

/**
 * COPY's bytes (canonical dialect) in, the same records with these columns made canonical out,
 * each chunk as its complete records.
 */
export async function* canonicalPostgresText(
  chunks: AsyncIterable<Uint8Array>,
  codes: Uint8Array,
): AsyncGenerator<Uint8Array> {
  if (codes.length > MAX_COLUMNS) throw new Error(`more than ${MAX_COLUMNS} columns`);
  shared ??= new Rewriter(WINDOW);
  const rewriter = shared;
  const out: Buffer[] = [];
  // A record longer than the window gets an instance of its own, dropped after it: memory a
  // module grows is never given back.
  const whole = (record: Buffer) =>
    (record.length <= WINDOW ? rewriter : new Rewriter(record.length)).rewrite(
      record,
      0,
      record.length,
      codes,
    ).out;
  const runs = new CsvRecordRuns(
    QUOTE,
    WINDOW,
    (b, from, length) => {
      const { out: part, taken } = rewriter.rewrite(b, from, length, codes);
      if (part.length > 0) out.push(part);
      return taken;
    },
    (b, start, end) => out.push(whole(b.subarray(start, end + 1))),
  );
  for await (const chunk of chunks) {
    runs.push(chunk);
    for (const part of out.splice(0)) yield part;
  }
  const rest = runs.end();
  if (rest) {
    // COPY ends every record with "\n"; a stream that did not is rewritten as if it had.
    const last = whole(Buffer.concat([rest, Buffer.from("\n")]));
    yield last.subarray(0, last.length - 1);
  }
}
