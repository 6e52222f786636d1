/**
 * The JavaScript side of parquet-fields.wasm (its .wat says what it parses and how): lays out an
 * encoder's column stages in the module's memory, copies a run of records in, and moves what the
 * module parsed into the encoder's ColumnBuffers. One module instance serves every encoder of the
 * process: a run is parsed and its stages emptied before the encoder returns, and an encoder lays
 * its columns out again whenever another one used the module since.
 */
import { instantiate, type WasmMemory } from "../wasm.ts";
import { WINDOW } from "./csv-records.ts";
import type { ColumnBuffer } from "./parquet-columns.ts";

/** The longest run parsed here: a window of csv-records.ts. A longer record is the caller's. */
export const MAX_RUN = WINDOW;
/** The column table, after the run and the 16 bytes the module may read past its end. */
const TABLE = MAX_RUN + 64;
/** Bytes of a column's entry in the table. */
const ENTRY = 128;
/** Bytes of value stages an encoder's columns share; each column gets at least MIN_STAGE. */
const STAGES = 1 << 20;
const MIN_STAGE = 64 << 10;
/** Rows staged at most. */
const MAX_ROWS = 1 << 16;

const I32_MAX = 0x7fffffff;

/**
 * What `parse` stopped at: the run's end (DONE), or a record it leaves to the caller (LEFT). It also
 * stops at a row group's bound (1) and when the stages are full (2); the caller drains the stages
 * and calls again from `pos` after every stop, so those two need nothing more from it.
 */
export const DONE = 0;
export const LEFT = 3;

interface Global {
  value: number;
}

interface Exports {
  memory: WasmMemory;
  parse(p: number, end: number, maxRows: number, maxBytes: number): number;
  reset(): void;
  pos: Global;
  rows: Global;
  rowCap: Global;
  bytes: Global;
  table: Global;
  width: Global;
}

interface Module {
  exports: Exports;
  bytes: Uint8Array;
  view: DataView;
  owner: FieldStages | undefined;
}

let shared: Module | undefined;

function moduleOf(bytes: number): Module {
  if (!shared) {
    const exports = instantiate<Exports>(new URL("./parquet-fields.wasm", import.meta.url), bytes);
    shared = { exports, bytes: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)), owner: undefined };
  }
  const memory = shared.exports.memory;
  const short = bytes - memory.buffer.byteLength;
  if (short > 0) memory.grow(Math.ceil(short / 65_536));
  if (shared.bytes.buffer !== memory.buffer) {
    shared.bytes = new Uint8Array(memory.buffer);
    shared.view = new DataView(memory.buffer);
  }
  return shared;
}

/** A column as the module parses it. */
export interface StagedColumn {
  /** parquet-csv.ts's field code (0 BOOL .. 9 BYTES). */
  code: number;
  scale: number;
  nullable: boolean;
  /** Bytes each value stages (a BOOLEAN one), or 0 for byte arrays. */
  size: number;
}

/** One encoder's columns in the module. */
export class FieldStages {
  private readonly columns: StagedColumn[];
  private readonly stage: number;
  private readonly rowCap: number;
  private readonly memory: number;
  /** What the last `parse` read: the records' bytes (each without its "\n") and where it stopped. */
  bytes = 0;
  pos = 0;

  constructor(columns: StagedColumn[]) {
    this.columns = columns;
    const width = columns.length;
    this.stage = Math.max(MIN_STAGE, Math.floor(STAGES / width / 8) * 8);
    let rowCap = MAX_ROWS;
    for (const c of columns) if (c.size > 0) rowCap = Math.min(rowCap, Math.floor(this.stage / c.size));
    this.rowCap = rowCap;
    this.memory = TABLE + width * (ENTRY + this.stage + rowCap);
  }

  /** Copies b[start, end) (at most MAX_RUN bytes) in, to be parsed from 0. */
  load(b: Uint8Array, start: number, end: number): void {
    const m = moduleOf(this.memory);
    if (m.owner !== this) this.layOut(m);
    m.bytes.set(b.subarray(start, end), 0);
  }

  private layOut(m: Module): void {
    const width = this.columns.length;
    const stages = TABLE + width * ENTRY;
    const levels = stages + width * this.stage;
    m.bytes.fill(0, TABLE, stages);
    this.columns.forEach((c, i) => {
      const at = TABLE + i * ENTRY;
      m.view.setInt32(at, c.code, true);
      m.view.setInt32(at + 4, c.scale, true);
      m.view.setInt32(at + 8, c.nullable ? 1 : 0, true);
      m.view.setInt32(at + 12, stages + i * this.stage, true);
      m.view.setInt32(at + 16, this.stage, true);
      m.view.setInt32(at + 28, levels + i * this.rowCap, true);
      m.view.setInt32(at + 80, c.size, true);
    });
    m.exports.table.value = TABLE;
    m.exports.width.value = width;
    m.exports.rowCap.value = this.rowCap;
    m.exports.reset();
    m.owner = this;
  }

  /**
   * Parses the loaded run from `p` to `end`, at most `maxRows` records or until `maxBytes` of them
   * (both at least 1); returns what it stopped at, with `pos` and `bytes` set.
   */
  parse(p: number, end: number, maxRows: number, maxBytes: number): number {
    const e = shared!.exports;
    const status = e.parse(p, end, Math.min(maxRows, I32_MAX), Math.min(maxBytes, I32_MAX));
    this.pos = e.pos.value;
    this.bytes = e.bytes.value;
    return status;
  }

  /** Moves the staged rows into `buffers` (one per column) and empties the stages; returns them. */
  drain(buffers: ColumnBuffer[]): number {
    const m = shared!;
    const rows = m.exports.rows.value;
    if (rows === 0) return 0;
    const { bytes, view } = m;
    buffers.forEach((buffer, i) => {
      const at = TABLE + i * ENTRY;
      const base = view.getInt32(at + 12, true);
      const levels = view.getInt32(at + 28, true);
      const start = buffer.appendStaged(
        bytes.subarray(base, base + view.getInt32(at + 20, true)),
        bytes.subarray(levels, levels + rows),
        rows,
        view.getInt32(at + 32, true),
      );
      if (view.getInt32(at + 92, true) === 0) return; // all NULL
      if (this.columns[i]!.size === 0) {
        buffer.byteBounds(start + view.getInt32(at + 64, true) - base, view.getInt32(at + 68, true));
        buffer.byteBounds(start + view.getInt32(at + 72, true) - base, view.getInt32(at + 76, true));
      } else buffer.integerBounds(view.getBigInt64(at + 48, true), view.getBigInt64(at + 56, true));
    });
    m.exports.reset();
    return rows;
  }
}
