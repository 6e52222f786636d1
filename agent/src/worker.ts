/**
 * The worker: runs the jobs the dispatcher gave this node (it watches only CopyJobs whose
 * status.node is this node, a selectable field of the CRD), up to its concurrency limit, which is
 * read again before every start because the operator may change it at any time. The jobs beyond
 * the limit wait in this node's queue and start in job order as slots free (policy/dispatch.ts).
 *
 * One run per job holds one slot from its start to its end, retries included: transient failures
 * are retried in place (attempt n+1 on this node, after an exponential, jittered delay, recorded
 * in status as Assigned with the attempt's future startTime) rather than sent back to the queue,
 * so the partition plan and the open connections stay warm and the dispatcher has nothing to do;
 * if this node dies meanwhile, the dispatcher takes the job back like any other.
 *
 * Every status write goes through updateJobStatus with the ownership guard "node is me and the
 * attempt is mine". A run that finds the job is no longer its own stops without writing anything.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Kube } from "@ferry/common";
import type { Logger } from "@ferry/common/log";
import { type EventRecorder, Informer, type Metrics } from "@ferry/common/runtime";
import type {
  CommittedPartition,
  CopyJob,
  CopyProgress,
  DataStore,
  GatewayNode,
  ProcedureOutcome,
} from "@ferry/crds";
// Not from the package's root, which loads the validators (ajv, CEL, the schemas) the agent
// never uses.
import { isCopyActivity } from "@ferry/crds/activity";
import { CredentialError, type CredentialResolver } from "./credentials.ts";
import {
  AttemptLostError,
  type CommittedPartitionInfo,
  DataPlaneError,
  runCopy,
  runStoredProcedure,
  type StoreConfig,
} from "./dataplane/index.ts";
import type { Heartbeat } from "./heartbeat.ts";
import { cachedJob } from "./job-cache.ts";
import { ownedBy, updateJobStatus } from "./job-writer.ts";
import { API_VERSION, jobRef } from "./names.ts";
import { jobOrder } from "./policy/dispatch.ts";
import {
  failed,
  isFinal,
  procedureSucceeded,
  requeued,
  retryingInPlace,
  running,
  succeeded,
  withCommittedPartition,
  withProgress,
} from "./policy/job-status.ts";
import { decideRetry } from "./policy/retry.ts";

export interface WorkerOptions {
  kube: Kube;
  namespace: string;
  gateway: string;
  node: string;
  log: Logger;
  metrics: Metrics;
  events: EventRecorder;
  heartbeat: Heartbeat;
  resolver: CredentialResolver;
  progressMs: number;
  /** The slots when neither the node nor the gateway sets them. */
  defaultLimit: () => number;
  /** Called when this node's spec changes its slots (the operator tunes concurrencyLimit). */
  onLimitChanged?: () => void;
}

type StopReason = "shutdown" | "lease" | "lost";

interface Run {
  attempt: number;
  abort: AbortController;
  done: Promise<void>;
  /**
   * performance.now() just before the last request whose answer proved the attempt still this
   * node's: a guarded status write of it, or the fence's read.
   */
  confirmedAt: number;
}

/**
 * The fence (before each commit) reads the job from the API server unless an answer that young
 * already proved the attempt ours, and this node's watched copy still says so. Exactly-once does
 * not rest on the fence (copy.ts: parts are per attempt, the checkpoint write is guarded, the
 * manifest is create-only), only how soon a zombie stops committing orphan parts, so a proof of
 * up to 2 s serves: a tiny job's two fences (its part, its manifest) come well within that of its
 * Running write, and a long copy's after each checkpoint write.
 */
const CONFIRMED_MS = 2000;

/** How one attempt ended, for the retry decision in #run. */
type AttemptOutcome =
  | { type: "done" }
  | { type: "stopped" }
  /** The fence could not confirm the attempt (the API was unreachable, or the job moved). */
  | { type: "fenced"; message: string }
  | { type: "error"; error: { reason: string; message: string; transient: boolean } };

/** A DataStore that cannot be resolved: bad credentials are permanent, anything else transient. */
function storeError(err: unknown): AttemptOutcome {
  if (err instanceof CredentialError)
    return { type: "error", error: { reason: err.reason, message: err.message, transient: false } };
  return {
    type: "error",
    error: {
      reason: "DataStoreUnavailable",
      message: `cannot read the data stores: ${(err as Error).message}`,
      transient: true,
    },
  };
}

export class Worker {
  readonly #o: WorkerOptions;
  readonly #jobs: Informer<CopyJob>;
  readonly #self: Informer<GatewayNode>;
  readonly #stores: Informer<DataStore>;
  readonly #runs = new Map<string, Run>();
  /** Job attempts this process ran to an end, so a lagging cache does not look like an orphan. */
  readonly #ended = new Set<string>();
  #accepting = true;
  #wake: () => void = () => {};
  readonly #runningGauge;
  readonly #rows;
  readonly #bytes;
  readonly #results;

  constructor(options: WorkerOptions) {
    this.#o = options;
    const { kube, namespace, node, log, metrics } = options;
    this.#jobs = new Informer<CopyJob>(
      kube,
      {
        apiVersion: API_VERSION,
        kind: "CopyJob",
        namespace,
        fieldSelector: `status.node=${node}`,
        resyncMs: 60_000,
        transform: cachedJob,
      },
      log,
      metrics,
    );
    this.#self = new Informer<GatewayNode>(
      kube,
      { apiVersion: API_VERSION, kind: "GatewayNode", namespace, fieldSelector: `metadata.name=${node}` },
      log,
    );
    this.#stores = new Informer<DataStore>(
      kube,
      { apiVersion: API_VERSION, kind: "DataStore", namespace, resyncMs: 60_000 },
      log,
    );
    this.#runningGauge = metrics.gauge("ferry_worker_jobs_running", "CopyJobs running on this node.");
    this.#rows = metrics.counter("ferry_copy_rows_total", "Rows copied by this node (committed partitions).");
    this.#bytes = metrics.counter(
      "ferry_copy_bytes_total",
      "Bytes written by this node (committed partitions).",
    );
    this.#results = metrics.counter("ferry_worker_attempts_total", "Attempts this node ended, by result.", [
      "result",
    ]);
  }

  get running(): number {
    return this.#runs.size;
  }

  limit(): number {
    const spec = this.#self.store.list()[0]?.spec.concurrencyLimit;
    return spec ?? this.#o.defaultLimit();
  }

  async start(signal: AbortSignal): Promise<void> {
    const poke = () => this.#wake();
    this.#jobs.on(poke);
    // The slots last seen, once the node's first listing is in (events before it change nothing).
    let seenLimit: number | undefined;
    this.#self.on(() => {
      poke();
      const now = this.limit();
      if (seenLimit === undefined || seenLimit === now) return;
      seenLimit = now;
      this.#o.onLimitChanged?.();
    });
    await Promise.all([this.#jobs.start(signal), this.#self.start(signal), this.#stores.start(signal)]);
    seenLimit = this.limit();
    void this.#loop(signal);
  }

  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.#accepting) {
      try {
        await this.#schedule();
      } catch (err) {
        this.#o.log.warn({ err }, "scheduling pass failed");
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        delay(1000, undefined, { signal }).then(resolve, resolve);
      });
      this.#wake = () => {};
    }
  }

  async #schedule(): Promise<void> {
    const { node } = this.#o;
    // The dispatcher may give this node more jobs than it has slots (they wait in its queue): start
    // them in the dispatcher's order, which is also the order in which it moves waiting ones away.
    for (const job of this.#jobs.store.list().sort(jobOrder)) {
      const s = job.status;
      if (!this.#accepting || !this.#o.heartbeat.fresh()) return;
      if (s?.node !== node || isFinal(s) || this.#runs.has(job.metadata.name)) continue;
      const key = `${job.metadata.name}#${s.attempt}`;
      if (this.#ended.has(key)) continue;
      if (s.phase === "Running") {
        // Running here but not in this process: a previous process of this node ran it.
        this.#ended.add(key);
        await this.#handBack(
          job.metadata.name,
          s.attempt ?? 0,
          "NodeRestarted",
          `node ${node} restarted during attempt ${s.attempt}`,
        );
        continue;
      }
      if (s.phase !== "Assigned") continue;
      if (this.#runs.size >= this.limit()) return;
      this.#startRun(job);
    }
  }

  #startRun(job: CopyJob): void {
    const name = job.metadata.name;
    const abort = new AbortController();
    const run: Run = {
      attempt: job.status?.attempt ?? 0,
      abort,
      done: Promise.resolve(),
      confirmedAt: Number.NEGATIVE_INFINITY,
    };
    this.#runs.set(name, run);
    this.#runningGauge.set({}, this.#runs.size);
    run.done = this.#run(job, run)
      .catch(async (err: unknown) => {
        // A status write that failed (the API server unreachable) or a bug: the attempt must not
        // stay this node's in the API with nobody running it, so it is handed back once it can be.
        const log = this.#o.log.child({ job: name, node: this.#o.node, attempt: run.attempt });
        log.error({ err }, "job run failed unexpectedly; handing the attempt back");
        await this.#abandon(
          name,
          run.attempt,
          log,
          "StatusUnwritten",
          `attempt ${run.attempt} ended without its status written: ${(err as Error)?.message ?? err}`,
        );
      })
      .finally(() => {
        this.#ended.add(`${name}#${run.attempt}`);
        this.#runs.delete(name);
        this.#runningGauge.set({}, this.#runs.size);
        this.#wake();
      });
  }

  /** One job, through its retries in place, until it ends or is no longer ours. */
  async #run(first: CopyJob, run: Run): Promise<void> {
    const { kube, namespace, node } = this.#o;
    const name = first.metadata.name;
    for (;;) {
      const attempt = run.attempt;
      const log = this.#o.log.child({ job: name, node, attempt });
      // A retry in place starts at its attempt's startTime.
      const startAt = Date.parse(first.status?.attempts?.at(-1)?.startTime ?? "") || 0;
      if (startAt > Date.now())
        await delay(startAt - Date.now(), undefined, { signal: run.abort.signal }).catch(() => {});
      if (run.abort.signal.aborted) return this.#stopped(name, run, log);
      const sent = performance.now();
      const started = await updateJobStatus(
        kube,
        namespace,
        name,
        (j) =>
          ownedBy(j, node, attempt) && j.status?.phase === "Assigned"
            ? running(j.status, new Date())
            : undefined,
        first,
      );
      if (!started) {
        log.info("the job is no longer this node's; not starting");
        return;
      }
      run.confirmedAt = sent;
      log.info("attempt started");
      const outcome = await this.#attempt(started, run, log);
      if (outcome.type === "done") return;
      if (outcome.type === "stopped") return this.#stopped(name, run, log);
      if (outcome.type === "fenced")
        return this.#abandon(
          name,
          run.attempt,
          log,
          "Fenced",
          `attempt ${run.attempt} stopped before a commit it could not confirm: ${outcome.message}`,
        );
      const err = outcome.error;
      const decision = decideRetry(err, attempt, started.spec.retry);
      const now = new Date();
      if (!decision.retry) {
        this.#results.inc({ result: "Failed" });
        const written = await updateJobStatus(kube, namespace, name, (j) =>
          ownedBy(j, node, attempt) ? failed(j.status, err.reason, err.message, now) : undefined,
        );
        log.error({ reason: err.reason, why: decision.why }, `job failed: ${err.message}`);
        if (written) void this.#o.events.event(written, "Warning", err.reason, err.message, "Copy");
        return;
      }
      this.#results.inc({ result: "Retried" });
      const written = await updateJobStatus(kube, namespace, name, (j) =>
        ownedBy(j, node, attempt)
          ? retryingInPlace(j.status!, err.reason, err.message, decision.delayMs, now)
          : undefined,
      );
      if (!written) return;
      log.warn(
        { reason: err.reason, delayMs: Math.round(decision.delayMs) },
        `transient failure, retrying: ${err.message}`,
      );
      first = written;
      run.attempt = written.status?.attempt ?? attempt + 1;
    }
  }

  /** A DataStore as a StoreConfig, from the watched copy when there is one. */
  #store(name: string, gateway: string): Promise<StoreConfig> {
    return this.#o.resolver.store(name, gateway, this.#stores.store.get(this.#o.namespace, name));
  }

  async #attempt(job: CopyJob, run: Run, log: Logger): Promise<AttemptOutcome> {
    if (job.spec.storedProcedure) return this.#procedure(job, run, log);
    const spec = job.spec;
    if (!isCopyActivity(spec)) {
      return {
        type: "error",
        error: {
          reason: "InvalidSpec",
          message: "the job has neither a copy nor a stored procedure",
          transient: false,
        },
      };
    }
    const { kube, namespace, node } = this.#o;
    const name = job.metadata.name;
    const attempt = run.attempt;
    let source: StoreConfig;
    let sink: StoreConfig;
    try {
      [source, sink] = await Promise.all([
        this.#store(spec.source.dataStoreRef.name, spec.gatewayRef.name),
        this.#store(spec.sink.dataStoreRef.name, spec.gatewayRef.name),
      ]);
    } catch (err) {
      return storeError(err);
    }
    // Status writes of one job never overlap: checkpoint and progress are written in order, each
    // from the job as the previous one left it (updateJobStatus reads it again if that is stale).
    let chain: Promise<unknown> = Promise.resolve();
    let current = job;
    const write = (decide: (j: CopyJob) => ReturnType<typeof withProgress> | undefined) => {
      const next = chain.then(async () => {
        const sent = performance.now();
        const written = await updateJobStatus(
          kube,
          namespace,
          name,
          (j) => (ownedBy(j, node, attempt) ? decide(j) : undefined),
          current,
        );
        if (written) {
          current = written;
          run.confirmedAt = sent;
        }
        return written;
      });
      chain = next.catch(() => {});
      return next;
    };
    let latest: CopyProgress | undefined;
    // The Running write just told that the attempt started: the first progress write waits its
    // turn like the others, so a job done within one period writes none.
    let lastWrite = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const flushProgress = () => {
      timer = undefined;
      if (!latest) return;
      const progress = latest;
      latest = undefined;
      lastWrite = Date.now();
      void write((j) => withProgress(j.status!, progress)).catch((err: unknown) =>
        log.warn({ err }, "progress write failed"),
      );
    };
    const onProgress = (progress: CopyProgress) => {
      latest = progress;
      if (timer) return;
      timer = setTimeout(flushProgress, Math.max(0, lastWrite + this.#o.progressMs - Date.now()));
    };
    // The partition that completes the plan goes into the checkpoint with the Succeeded write: the
    // manifest follows its commit at once (copy.ts, rule 2), and a tiny job saves a status write.
    let lastPartition: CommittedPartition | undefined;
    const onPartitionCommitted = async (p: CommittedPartitionInfo) => {
      const partition = { id: p.id, rows: p.rows, bytes: p.bytes, checksum: p.checksum, uri: p.uri };
      if (p.last) lastPartition = partition;
      else {
        const written = await write((j) => withCommittedPartition(j.status!, partition));
        if (!written) throw new AttemptLostError("the job is no longer this node's attempt");
      }
      this.#rows.inc({}, p.rows);
      this.#bytes.inc({}, p.bytes);
      log.info({ partition: p.id, rows: p.rows }, "partition committed");
    };
    // The node Lease needs no read: while the heartbeat is fresh no other instance can hold it,
    // since claimNodeLease takes a Lease from another instance only after watching it go
    // unrenewed for a whole duration, which is longer than fresh() trusts a renewal.
    const fence = async () => {
      if (run.abort.signal.aborted) throw new Error(`stopping (${String(run.abort.signal.reason)})`);
      if (!this.#o.heartbeat.fresh())
        throw new Error("this node's heartbeat lease was not renewed within its duration");
      const watched = this.#jobs.store.get(namespace, name);
      if (performance.now() - run.confirmedAt < CONFIRMED_MS && watched && ownedBy(watched, node, attempt))
        return;
      const sent = performance.now();
      const current = await kube.get<CopyJob>(jobRef(namespace, name));
      if (!current || !ownedBy(current, node, attempt))
        throw new Error(
          `the job is now ${current?.status?.phase ?? "gone"} on node ${current?.status?.node ?? "none"}, attempt ${current?.status?.attempt}`,
        );
      run.confirmedAt = sent;
    };
    try {
      const result = await runCopy({
        job: { uid: job.metadata.uid ?? name, name, namespace, spec },
        source,
        sink,
        attempt,
        checkpoint: job.status?.checkpoint?.committedPartitions ?? [],
        onPartitionCommitted,
        onProgress,
        fence,
        signal: run.abort.signal,
        log,
      });
      clearTimeout(timer);
      await chain;
      const now = new Date();
      const { contentChecksum: _c, ...output } = result.output;
      const done = await updateJobStatus(
        kube,
        namespace,
        name,
        (j) => {
          if (!ownedBy(j, node, attempt)) return undefined;
          const status = lastPartition ? withCommittedPartition(j.status!, lastPartition) : j.status!;
          return succeeded(status, output, result.progress, now);
        },
        current,
      );
      if (done) {
        this.#results.inc({ result: "Succeeded" });
        log.info({ rows: output.rows, parts: output.uris?.length }, "job succeeded");
      } else {
        log.warn("copied, but the job is no longer this node's attempt: not marking it Succeeded");
      }
      return { type: "done" };
    } catch (err) {
      clearTimeout(timer);
      await chain;
      if (run.abort.signal.aborted) return { type: "stopped" };
      if (err instanceof DataPlaneError && err.reason === "Fenced") {
        log.warn(`fenced: ${err.message}`);
        this.#results.inc({ result: "Fenced" });
        return { type: "fenced", message: err.message };
      }
      // Not ours any more (a checkpoint write was refused): stop quietly.
      const current = await kube.get<CopyJob>(jobRef(namespace, name)).catch(() => undefined);
      if (current && !ownedBy(current, node, attempt)) {
        log.warn("the job moved to another node or attempt; stopping");
        return { type: "done" };
      }
      if (err instanceof DataPlaneError)
        return {
          type: "error",
          error: { reason: err.reason, message: err.message, transient: err.transient },
        };
      return {
        type: "error",
        error: { reason: "Unexpected", message: (err as Error)?.message ?? String(err), transient: true },
      };
    }
  }

  /**
   * The stored procedure activity: one call on the job's SQL DataStore. Only failures before the
   * call reached the server are transient (the data plane says which), so a procedure never runs
   * twice because of a retry.
   */
  async #procedure(job: CopyJob, run: Run, log: Logger): Promise<AttemptOutcome> {
    const { kube, namespace, node } = this.#o;
    const name = job.metadata.name;
    const attempt = run.attempt;
    const sp = job.spec.storedProcedure!;
    let store: StoreConfig;
    try {
      store = await this.#store(sp.dataStoreRef.name, job.spec.gatewayRef.name);
    } catch (err) {
      return storeError(err);
    }
    const current = await kube.get<CopyJob>(jobRef(namespace, name));
    if (!current || !ownedBy(current, node, attempt) || !this.#o.heartbeat.fresh()) {
      log.warn("the job is no longer this node's attempt; not calling the procedure");
      return { type: "done" };
    }
    try {
      const result = await runStoredProcedure({
        store,
        call: {
          procedure: sp.procedure,
          parameters: (sp.parameters ?? []).map((p) => ({
            name: p.name,
            type: p.type,
            value: p.value ?? null,
            direction: p.direction ?? "In",
          })),
          maxRows: sp.maxRows ?? 20,
        },
        ...(job.spec.timeoutSeconds ? { timeoutMs: job.spec.timeoutSeconds * 1000 } : {}),
        signal: run.abort.signal,
      });
      const outcome: ProcedureOutcome = {
        outputs: Object.fromEntries(
          Object.entries(result.outputs).filter((e): e is [string, string] => e[1] !== null),
        ),
        ...(result.rowsAffected !== undefined ? { rowsAffected: result.rowsAffected } : {}),
        ...(result.returnValue !== undefined ? { returnValue: result.returnValue } : {}),
        resultSets: result.resultSets.slice(0, 8).map((set) => ({
          columns: set.columns.map((c) => c.name),
          rows: set.rows,
          truncated: set.truncated,
        })),
      };
      const done = await updateJobStatus(kube, namespace, name, (j) =>
        ownedBy(j, node, attempt) ? procedureSucceeded(j.status!, outcome, new Date()) : undefined,
      );
      if (done) {
        this.#results.inc({ result: "Succeeded" });
        log.info({ procedure: sp.procedure }, "stored procedure ran");
      }
      return { type: "done" };
    } catch (err) {
      if (run.abort.signal.aborted) return { type: "stopped" };
      if (err instanceof DataPlaneError)
        return {
          type: "error",
          error: { reason: err.reason, message: err.message, transient: err.transient },
        };
      return {
        type: "error",
        error: { reason: "Unexpected", message: (err as Error)?.message ?? String(err), transient: false },
      };
    }
  }

  async #stopped(name: string, run: Run, log: Logger): Promise<void> {
    const reason = run.abort.signal.reason as StopReason;
    if (reason === "shutdown") {
      await this.#handBack(
        name,
        run.attempt,
        "NodeShutdown",
        `node ${this.#o.node} shut down during attempt ${run.attempt}`,
      );
      log.info("handed back on shutdown");
    } else if (reason === "lease") {
      log.warn({ reason }, "attempt stopped without committing more");
      await this.#abandon(
        name,
        run.attempt,
        log,
        "LeaseExpired",
        `node ${this.#o.node} could not renew its lease during attempt ${run.attempt}; the attempt stopped before committing more`,
      );
    } else {
      log.warn({ reason }, "attempt stopped without committing more");
    }
  }

  /**
   * An attempt this node gave up without a result (its lease went stale, or the fence could not
   * confirm it) must not stay Running in the API: nobody else would take it back, since the node's
   * lease is fresh again by the time a dispatcher looks (an API server restart outlasts a lease
   * without any node dying). Once this node can write again it hands the attempt back; the next
   * attempt resumes from the checkpoint. If a dispatcher already requeued the job (NodeLost), the
   * attempt is not this node's any more and the hand-back changes nothing.
   */
  async #abandon(name: string, attempt: number, log: Logger, reason: string, message: string): Promise<void> {
    for (let tries = 0; this.#accepting; tries++) {
      if (this.#o.heartbeat.fresh()) {
        try {
          await this.#handBack(name, attempt, reason, message);
          log.info({ reason }, "attempt handed back");
          return;
        } catch (err) {
          if (tries % 20 === 0) log.warn({ err }, "could not hand the attempt back yet; retrying");
        }
      }
      await delay(500);
    }
  }

  async #handBack(name: string, attempt: number, reason: string, message: string): Promise<void> {
    const now = new Date();
    await updateJobStatus(this.#o.kube, this.#o.namespace, name, (j) =>
      ownedBy(j, this.#o.node, attempt) ? requeued(j.status!, reason, message, now) : undefined,
    );
  }

  /** Jobs assigned here that no run holds yet go back to the queue, for other nodes. */
  async #handBackWaiting(): Promise<void> {
    const { node, log } = this.#o;
    const waiting = this.#jobs.store
      .list()
      .filter(
        (j) => j.status?.node === node && j.status.phase === "Assigned" && !this.#runs.has(j.metadata.name),
      );
    await Promise.all(
      waiting.map(async (job) => {
        const attempt = job.status?.attempt ?? 0;
        const now = new Date();
        const message = `node ${node} shut down before attempt ${attempt} started`;
        try {
          const written = await updateJobStatus(
            this.#o.kube,
            this.#o.namespace,
            job.metadata.name,
            (j) =>
              ownedBy(j, node, attempt) && j.status?.phase === "Assigned" && !this.#runs.has(j.metadata.name)
                ? requeued(j.status, "NodeShutdown", message, now)
                : undefined,
            job,
          );
          if (written) log.info({ job: job.metadata.name, attempt }, "handed back before it started");
        } catch (err) {
          log.warn({ err, job: job.metadata.name }, "could not hand back a waiting job; the dispatcher will");
        }
      }),
    );
  }

  /** The lease went stale or was taken: stop every copy before it commits anything more. */
  stopAll(reason: StopReason): void {
    for (const run of this.#runs.values()) run.abort.abort(reason);
  }

  /**
   * SIGTERM: take no more jobs, let running ones finish for `graceMs`, hand back the rest, and the
   * jobs still waiting in this node's queue (the dispatcher moves them to other nodes meanwhile
   * when it can; the node's Lease says it is draining).
   */
  async drain(graceMs: number): Promise<void> {
    this.#accepting = false;
    this.#wake();
    const all = () => Promise.all([...this.#runs.values()].map((r) => r.done));
    const finished = await Promise.race([all().then(() => true), delay(graceMs).then(() => false)]);
    if (!finished) {
      this.#o.log.info({ jobs: [...this.#runs.keys()] }, "grace period over: handing back running jobs");
      this.stopAll("shutdown");
    }
    // Not after the runs end: a run stops at its next step, and planning a copy may take a while.
    await Promise.all([this.#handBackWaiting(), all()]);
  }
}
