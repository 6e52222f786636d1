/**
 * The bytes of `COPY ... TO STDOUT`, read straight off the pg client's socket, one Buffer per socket
 * chunk. Why not pg-copy-streams: it makes one Buffer slice per CopyData message, that is per row,
 * and concatenates them again. On the copy benchmark's table (bench/copy, 72-byte rows) that cost
 * ~0.4 µs of CPU and GC per row in the agent's profile, and a stream of short-lived Buffers that
 * kept the heap (and the agent's RSS) up; reading 1M of those rows and dropping them took 300-450
 * ms of CPU through pg-copy-streams and 215-240 ms (most of it the socket reads) through this.
 * Here each chunk's 5-byte message headers are stripped in one pass by moving the CopyData
 * payloads down inside the chunk itself (in WebAssembly: CopyOutFrames), and the chunk's front is
 * handed on: nothing is allocated per row.
 *
 * The takeover is pg-copy-streams' (copy-to.js): the query is a pg Submittable; on submit it takes
 * pg's 'data' listener off the socket and reads the socket itself, in paused mode, only when the
 * consumer asks for more (so a slow sink holds the server back through TCP, never through memory).
 * At CopyDone or an ErrorResponse, the bytes not yet parsed go back to pg's listener, so pg sees
 * CommandComplete / ReadyForQuery / the error as for any query and the connection stays usable.
 * A consumer that stops early, an abort, or a message COPY does not send destroys the socket: the
 * server is still sending and would not read a Terminate before it is done.
 */
import type { Duplex } from "node:stream";
import type pg from "pg";
import { instantiate, type WasmMemory } from "../wasm.ts";

const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'

/** Bytes of a chunk stripped per call into the module. */
export const STRIP_WINDOW = 256 << 10;

interface Global {
  value: number;
}

interface Stripper {
  strip(n: number, out: number): number;
  bytes: Uint8Array;
  /** Offset of the output in memory. */
  out: number;
  code: Global;
  header: Global;
  length: Global;
  remaining: Global;
  rest: Global;
  restCode: Global;
  bad: Global;
}

let stripper: Stripper | undefined;

/** The module, loaded on first use: the window, 16 bytes it may read past, then the output. */
function loadStripper(): Stripper {
  const out = STRIP_WINDOW + 64;
  const exports = instantiate<
    { memory: WasmMemory; strip: Stripper["strip"] } & Omit<Stripper, "strip" | "bytes" | "out">
  >(new URL("./postgres-copy-out.wasm", import.meta.url), out + STRIP_WINDOW + 64);
  return { ...exports, bytes: new Uint8Array(exports.memory.buffer), out };
}

/**
 * The framing of a CopyOut stream, without I/O: `strip(chunk)` moves the CopyData payloads of the
 * chunk to its front and returns their length. Messages may be split anywhere across chunks.
 * Once a message that is not the stream's own begins (CopyDone, ErrorResponse, anything else),
 * `rest` is its offset in the last chunk given, and the stream is over. The work is
 * postgres-copy-out.wasm's (its .wat says how), a window of the chunk at a time; where the
 * stream stands between chunks is kept here, so one module serves every stream.
 */
export class CopyOutFrames {
  /** Offset in the last chunk where the bytes that are not CopyOut's begin; -1 while in the stream. */
  rest = -1;
  /** The type byte of the message at `rest`. */
  restCode = 0;
  private code = 0;
  /** Header bytes of the current message seen so far (0 at a message boundary or in a body). */
  private headerBytes = 0;
  private length = 0;
  /** Body bytes of the current message still to come. */
  private remaining = 0;

  strip(chunk: Uint8Array): number {
    if (this.rest >= 0) throw new Error("CopyOut stream already ended");
    stripper ??= loadStripper();
    const m = stripper;
    let w = 0;
    for (let from = 0; from < chunk.length; ) {
      const n = Math.min(STRIP_WINDOW, chunk.length - from);
      m.bytes.set(chunk.subarray(from, from + n), 0);
      m.code.value = this.code;
      m.header.value = this.headerBytes;
      m.length.value = this.length;
      m.remaining.value = this.remaining;
      const taken = m.strip(n, m.out);
      this.code = m.code.value;
      this.headerBytes = m.header.value;
      this.length = m.length.value;
      this.remaining = m.remaining.value;
      if (m.bad.value !== -1) {
        throw new Error(
          `malformed CopyOut message (type ${String.fromCharCode(this.code)}, length ${m.bad.value >>> 0})`,
        );
      }
      // The payloads end no later than the window they came from: what is not read yet stays.
      chunk.set(m.bytes.subarray(m.out, m.out + taken), w);
      w += taken;
      if (m.rest.value >= 0) {
        this.rest = from + m.rest.value;
        this.restCode = m.restCode.value;
        return w;
      }
      from += n;
    }
    return w;
  }
}

type DataListener = (chunk: Buffer) => void;

/** The pg Submittable: owns the socket from submit until it hands the rest back. */
class CopyOutQuery implements pg.Submittable {
  readonly frames = new CopyOutFrames();
  socket: Duplex | undefined;
  /** pg has the socket back (CopyDone or an error reached it). */
  handedBack = false;
  /** ReadyForQuery after CopyDone: the copy is over and the connection idle. */
  complete = false;
  error: unknown;
  rowCount: number | undefined;
  private pgOnData: DataListener | undefined;
  private waiting: (() => void) | undefined;
  private readonly text: string;
  private readonly onReadable = () => this.wake();

  constructor(text: string) {
    this.text = text;
  }

  /** pg passes an error returned here to handleError, and the client stays usable. */
  submit(connection: pg.Connection): Error | undefined {
    const socket = connection.stream;
    const listeners = socket.listeners("data");
    if (listeners.length !== 1) {
      return new Error(`cannot take over the PostgreSQL socket: ${listeners.length} 'data' listeners`);
    }
    this.pgOnData = listeners[0] as DataListener;
    socket.removeListener("data", this.pgOnData);
    socket.pause();
    socket.on("readable", this.onReadable);
    this.socket = socket;
    connection.query(this.text);
    this.wake();
    return undefined;
  }

  /** The next chunk of the socket, or null when it has none buffered (wait, then ask again). */
  read(): Buffer | null {
    if (!this.socket || this.handedBack || this.error !== undefined) return null;
    return this.socket.read() as Buffer | null;
  }

  /** Gives pg's listener the socket again, and the bytes of `chunk` from `offset` on. */
  handBack(chunk: Buffer, offset: number): void {
    const socket = this.socket!;
    const pgOnData = this.pgOnData!;
    this.handedBack = true;
    socket.removeListener("readable", this.onReadable);
    socket.on("data", pgOnData);
    // A copy: pg's parser may keep the buffer it is given, and the chunk's front is ours.
    if (offset < chunk.length) pgOnData(Buffer.from(chunk.subarray(offset)));
    // Removing 'readable' or pg's own handling may leave the socket paused (copy-to.js does this too).
    process.nextTick(() => socket.resume());
  }

  /** Ends the takeover without handing back: the socket goes, pg then fails the query and ends. */
  destroy(): void {
    this.socket?.removeListener("readable", this.onReadable);
    this.socket?.destroy();
  }

  fail(err: unknown): void {
    if (this.error === undefined) this.error = err;
    this.wake();
  }

  /** Resolves at the next readable chunk, error, or completion. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  // pg calls these once the socket is handed back (or on a socket error / end).
  handleError(err: unknown): void {
    this.fail(err);
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg?.text ?? "");
    if (m) this.rowCount = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.complete = true;
    this.wake();
  }
}

export interface CopyOutResult {
  /** Rows PostgreSQL reported (CommandComplete), once the generator has returned. */
  rowCount?: number;
}

/**
 * Runs `sql` (a `COPY ... TO STDOUT`) on `client` and yields its bytes. Server errors are thrown as
 * pg reports them (a DatabaseError with its SQLSTATE `code`), after which the client is idle;
 * an abort throws `signal.reason` and leaves the client's socket destroyed, as does a consumer
 * that stops early. `result.rowCount` is set at the end.
 */
export async function* copyOut(
  client: pg.Client,
  sql: string,
  signal?: AbortSignal,
  result: CopyOutResult = {},
): AsyncGenerator<Buffer, void, undefined> {
  signal?.throwIfAborted();
  const query = new CopyOutQuery(sql);
  const onAbort = () => {
    query.fail(signal?.reason ?? new Error("aborted"));
    query.destroy();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    client.query(query);
    for (;;) {
      if (query.error !== undefined) throw query.error;
      if (query.complete) break;
      const chunk = query.read();
      if (chunk === null) {
        await query.next();
        continue;
      }
      let end: number;
      try {
        end = query.frames.strip(chunk);
      } catch (err) {
        query.fail(err);
        continue;
      }
      const { rest, restCode } = query.frames;
      if (rest >= 0) {
        // pg's Query handlers are not ours: only what ends a COPY goes back to pg.
        if (restCode === COPY_DONE || restCode === ERROR_RESPONSE) query.handBack(chunk, rest);
        else
          query.fail(
            new Error(`unexpected message type ${JSON.stringify(String.fromCharCode(restCode))} in COPY OUT`),
          );
      }
      if (end > 0 && query.error === undefined) yield chunk.subarray(0, end);
    }
    if (query.rowCount !== undefined) result.rowCount = query.rowCount;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // Mid-stream (an abort, a consumer that stopped, a malformed stream): the server is still
    // sending COPY data, so the connection cannot be handed back; drop it.
    if (!query.handedBack) query.destroy();
  }
}
