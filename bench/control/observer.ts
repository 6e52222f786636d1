/**
 * Starts the CopyJob stopwatch thread (observer-thread.ts) and collects what it saw: for every job,
 * the first time (ms since the epoch, this machine's clock) it was seen in each phase.
 */
import { Worker } from "node:worker_threads";

export interface ObserverInput {
  kubeconfig: string;
  namespace: string;
  /** The thread reports done once this many jobs reached a final phase. */
  expected: number;
}

export interface JobTimes {
  name: string;
  /** First seen at all (its ADDED event). */
  seen: number;
  /** First seen in each phase: Pending, Assigned, Running, Succeeded, Failed. */
  phases: Partial<Record<string, number>>;
  /** The node of its (last) assignment. */
  node?: string;
  /** Highest attempt seen: above 1 means the job was retried or requeued. */
  attempt: number;
}

export type ToObserver = { type: "stop" };
export type FromObserver =
  | { type: "ready" }
  | { type: "progress"; finished: number }
  | { type: "error"; message: string }
  | { type: "done"; jobs: JobTimes[] };

export interface Observer {
  /** Resolves once every expected job is final, or with what was seen so far after `stop()`. */
  done: Promise<JobTimes[]>;
  stop(): void;
}

/** Resolves once the thread's watch is established, so no change after this call is missed. */
export async function startObserver(
  input: ObserverInput,
  onProgress: (finished: number) => void = () => {},
): Promise<Observer> {
  const worker = new Worker(new URL("./observer-thread.ts", import.meta.url), { workerData: input });
  let ready!: () => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const done = new Promise<JobTimes[]>((resolve, reject) => {
    worker.on("message", (message: FromObserver) => {
      if (message.type === "ready") ready();
      else if (message.type === "progress") onProgress(message.finished);
      else if (message.type === "error") reject(new Error(`the CopyJob watch failed: ${message.message}`));
      else resolve(message.jobs);
    });
    worker.on("error", reject);
    worker.on("exit", (code) => reject(new Error(`the observer thread exited (${code})`)));
  });
  // Whatever ends the run, the thread goes with it.
  const settled = done.finally(() => void worker.terminate());
  settled.catch(() => {});
  await Promise.race([started, done]);
  return { done: settled, stop: () => worker.postMessage({ type: "stop" } satisfies ToObserver) };
}
