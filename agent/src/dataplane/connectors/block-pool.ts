/**
 * The block buffers of one sink (one copy attempt), shared by all its parts and bounded in number.
 * Each part used to keep blockConcurrency + 1 buffers of its own, so a job's memory grew with its
 * parallelism: 64 partitions (the schema's maximum) at 4 MiB blocks held ~770 MiB. A part now takes
 * a buffer when it has bytes for one and gives it back once staged (or on abort); when every buffer
 * of the budget is taken, the part waits for the next one given back, first come first served.
 * A part holding a buffer either fills it from its own source or has staged it, so buffers always
 * come back and a waiting part always gets one.
 */
export class BlockPool {
  readonly blockSize: number;
  readonly maxBlocks: number;
  readonly #free: Buffer[] = [];
  readonly #waiting: ((buffer: Buffer) => void)[] = [];
  #allocated = 0;

  constructor(blockSize: number, maxBlocks: number) {
    if (!(maxBlocks >= 1)) throw new Error(`a block pool needs at least one block, not ${maxBlocks}`);
    this.blockSize = blockSize;
    this.maxBlocks = maxBlocks;
  }

  /** Buffers made so far; never more than maxBlocks. */
  get allocated(): number {
    return this.#allocated;
  }

  /** A buffer of blockSize bytes, with whatever it held before. */
  take(): Promise<Buffer> {
    const free = this.#free.pop();
    if (free) return Promise.resolve(free);
    if (this.#allocated < this.maxBlocks) {
      this.#allocated++;
      return Promise.resolve(Buffer.allocUnsafe(this.blockSize));
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Returns a buffer `take` gave; it must not be used afterwards. */
  give(buffer: Buffer): void {
    const next = this.#waiting.shift();
    if (next) next(buffer);
    else this.#free.push(buffer);
  }
}
