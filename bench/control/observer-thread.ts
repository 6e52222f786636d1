/**
 * The dispatch benchmark's stopwatch, run in a worker thread (observer.ts starts it): it watches
 * the namespace's CopyJobs and stamps, with its own event loop, when each job was first seen in
 * each phase. A thread of its own, because the main thread is busy creating the jobs at the very
 * moment the first ones are assigned, and its lag would show up as dispatch latency.
 */
import { parentPort, workerData } from "node:worker_threads";
import { connect, type WatchEvent } from "@ferry/common";
import type { CopyJob } from "@ferry/crds";
import type { FromObserver, JobTimes, ObserverInput, ToObserver } from "./observer.ts";

const FINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
const input = workerData as ObserverInput;
const kube = connect(input.kubeconfig);
const jobs = new Map<string, JobTimes>();
let finished = 0;
let stopped = false;
let watch: { abort(): void } | undefined;
const post = (message: FromObserver) => parentPort!.postMessage(message);

function observe(job: CopyJob, at: number): void {
  const name = job.metadata.name;
  let t = jobs.get(name);
  if (!t) {
    t = { name, seen: at, phases: {}, attempt: 0 };
    jobs.set(name, t);
  }
  const phase = job.status?.phase ?? "Pending";
  if (t.phases[phase] === undefined) {
    t.phases[phase] = at;
    if (FINAL.has(phase)) {
      finished++;
      if (finished % 100 === 0) post({ type: "progress", finished });
      if (finished === input.expected) finish();
    }
  }
  if (job.status?.node && phase === "Assigned") t.node = job.status.node;
  t.attempt = Math.max(t.attempt, job.status?.attempt ?? 0);
}

function finish(): void {
  if (stopped) return;
  stopped = true;
  watch?.abort();
  post({ type: "done", jobs: [...jobs.values()] });
}

parentPort!.on("message", (message: ToObserver) => {
  if (message.type === "stop") finish();
});

const apiVersion = "ferry.dev/v1alpha1";
const listed = await kube.listWithVersion<CopyJob>(apiVersion, "CopyJob", input.namespace);
const now = Date.now();
for (const job of listed.items) observe(job, now);
let resourceVersion = listed.resourceVersion;
post({ type: "ready" });
while (!stopped) {
  const handle = await kube.watch<CopyJob>(
    apiVersion,
    "CopyJob",
    { namespace: input.namespace, resourceVersion },
    (event: WatchEvent<CopyJob>) => {
      const at = Date.now();
      resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
      if (event.type === "ADDED" || event.type === "MODIFIED") observe(event.object, at);
    },
  );
  watch = handle;
  // A clean end is the server's watch timeout: carry on from the last version seen.
  await handle.done.catch((err: unknown) => {
    if (!stopped) post({ type: "error", message: (err as Error).message });
    stopped = true;
  });
}
