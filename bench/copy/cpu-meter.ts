/**
 * The copy benchmark's CPU meter: the CPU time the three sides of a copy (PostgreSQL, the mover,
 * Azurite) used between two points, read from /proc (bench/src/cpu.ts), and the time the
 * hypervisor took from this machine's cores meanwhile.
 */
import { stolenSeconds } from "../src/cpu.ts";

/** Reads a CPU time, seconds. */
export type CpuReader = () => Promise<number>;

/** CPU seconds each side used while a copy ran, and the window they were counted in. */
export interface Cpu {
  source: number;
  mover: number;
  sink: number;
  /** Stolen by the hypervisor, summed over the machine's cores. */
  stolen: number;
  window: number;
}

export interface CpuMeter {
  start(): Promise<void>;
  stop(): Promise<Cpu>;
}

/**
 * Counts the CPU time PostgreSQL (postmaster and backends), the mover and Azurite use between
 * start and stop: with 2 cores, a copy whose three sides add up to ~2 s of CPU a second had no
 * core to spare.
 */
export function cpuMeter(sides: { source: CpuReader; sink: CpuReader }, mover: CpuReader): CpuMeter {
  const read = () => Promise.all([sides.source(), mover(), sides.sink(), stolenSeconds()]);
  let before: number[] = [];
  let t0 = 0;
  return {
    async start() {
      before = await read();
      t0 = performance.now();
    },
    async stop() {
      const window = (performance.now() - t0) / 1000;
      const after = await read();
      const [source, moved, sink, stolen] = after.map((a, i) => a - before[i]!) as [
        number,
        number,
        number,
        number,
      ];
      return { source, mover: moved, sink, stolen, window };
    },
  };
}
