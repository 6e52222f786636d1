/**
 * `ferry status`: gateways, their nodes and their most recent jobs at a glance, joined across the
 * three kinds (what `kubectl get lgw,gwn,cj` shows in three unrelated tables). Gathering reads the
 * API; `statusView` is a pure function of the objects and the clock, rendered as tables or JSON.
 */
import type { CopyJob, GatewayNode, LogicalGateway } from "@ferry/crds";
import {
  type Command,
  checkName,
  FERRY_API,
  getRequired,
  helpRequested,
  parseCommand,
  type Session,
} from "./command.ts";
import { EXIT_OK, UsageError } from "./errors.ts";
import { bytes, compact, humanDuration, json, NONE, orNone, ratio, secondsBetween, table } from "./format.ts";

const DEFAULT_JOBS = 10;

const HELP = `Show gateways, their nodes and their most recent jobs.

Usage:
  ferry status [--gateway <name>] [--jobs <n>] [-o wide|json]

For each gateway: phase, agent version, ready/desired nodes, the dispatcher node, running/limit
job slots and the pending queue. For each node: state (",Cordoned" when no new jobs go to it),
role, version, running/limit jobs, the age of its last heartbeat, and whether the operator
manages it or it is external. For the most recent jobs (newest first): phase, node, attempt/max
attempts, progress, rows, throughput and age.

Options:
  --gateway <name>       only this gateway, its nodes and its jobs
  --jobs <n>             how many recent jobs to show (default ${DEFAULT_JOBS}; 0 shows all)
  -o, --output wide      more columns: node host, CPU and memory; job source and sink
  -o, --output json      the same data for scripts (timestamps as stored, ages in seconds)`;

export interface GatewayRow {
  name: string;
  phase?: string;
  version?: string;
  nodes: { ready?: number; desired?: number };
  dispatcher?: string;
  jobs: { running?: number; limit?: number; pending?: number };
  publicKeyReady: boolean;
  createdAt?: string;
  ageSeconds?: number;
}

export interface NodeRow {
  name: string;
  gateway: string;
  state?: string;
  role?: string;
  version?: string;
  cordoned: boolean;
  managed: boolean;
  host?: string;
  jobs: { running?: number; limit?: number };
  cpuPercent?: number;
  availableMemoryBytes?: number;
  lastHeartbeatTime?: string;
  heartbeatAgeSeconds?: number;
}

export interface JobRow {
  name: string;
  gateway: string;
  phase: string;
  node?: string;
  attempt?: number;
  maxAttempts?: number;
  percent?: number;
  partitionsDone?: number;
  partitionsTotal?: number;
  rows?: number;
  rowsPerSecond?: number;
  bytesPerSecond?: number;
  source: string;
  sink: string;
  createdAt?: string;
  ageSeconds?: number;
}

export interface StatusView {
  namespace: string;
  gateways: GatewayRow[];
  nodes: NodeRow[];
  jobs: JobRow[];
  /** Jobs of the shown gateways, of which `jobs` are the most recent. */
  jobsTotal: number;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name.localeCompare(b.name);
}

function newestFirst(a: CopyJob, b: CopyJob): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? "") || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? "") || 0;
  return tb - ta || a.metadata.name.localeCompare(b.metadata.name);
}

/** Drops undefined members, so JSON output and deepEqual see only what is known. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function statusView(
  namespace: string,
  gateways: LogicalGateway[],
  nodes: GatewayNode[],
  jobs: CopyJob[],
  options: { gateway?: string; jobLimit: number },
  now: Date,
): StatusView {
  const wanted = (gateway: string) => options.gateway === undefined || gateway === options.gateway;
  const gatewayJobs = jobs.filter((j) => wanted(j.spec.gatewayRef.name));
  const gatewayRows = gateways
    .filter((g) => wanted(g.metadata.name))
    .map((g): GatewayRow => {
      const s = g.status ?? {};
      // The operator's count when it has one; otherwise what the jobs say.
      const pending =
        s.jobs?.pending ??
        gatewayJobs.filter(
          (j) => j.spec.gatewayRef.name === g.metadata.name && (j.status?.phase ?? "Pending") === "Pending",
        ).length;
      return defined({
        name: g.metadata.name,
        phase: s.phase,
        version: s.version,
        nodes: defined({ ready: s.nodes?.ready, desired: s.nodes?.desired }),
        dispatcher: s.dispatcher,
        jobs: defined({ running: s.jobs?.running, limit: s.jobs?.limit, pending }),
        publicKeyReady: Boolean(s.publicKey),
        createdAt: g.metadata.creationTimestamp,
        ageSeconds: secondsBetween(g.metadata.creationTimestamp, now),
      });
    })
    .sort(byName);
  const nodeRows = nodes
    .filter((n) => wanted(n.spec.gatewayRef.name))
    .map((n): NodeRow => {
      const s = n.status ?? {};
      return defined({
        name: n.metadata.name,
        gateway: n.spec.gatewayRef.name,
        state: s.state,
        role: s.role,
        version: s.version,
        cordoned: n.spec.cordoned === true,
        managed: n.spec.managed === true,
        host: s.podName ?? s.hostName,
        jobs: defined({ running: s.jobs?.running, limit: s.jobs?.limit }),
        cpuPercent: s.resources?.cpuPercent,
        availableMemoryBytes: s.resources?.availableMemoryBytes,
        lastHeartbeatTime: s.lastHeartbeatTime,
        heartbeatAgeSeconds: secondsBetween(s.lastHeartbeatTime, now),
      });
    })
    .sort((a, b) => a.gateway.localeCompare(b.gateway) || byName(a, b));
  const recent = [...gatewayJobs].sort(newestFirst);
  const shown = options.jobLimit > 0 ? recent.slice(0, options.jobLimit) : recent;
  const jobRows = shown.map((j): JobRow => {
    const s = j.status ?? {};
    return defined({
      name: j.metadata.name,
      gateway: j.spec.gatewayRef.name,
      phase: s.phase ?? "Pending",
      node: s.node,
      attempt: s.attempt,
      // The API server stores objects with their defaults, so this is known for every stored job.
      maxAttempts: j.spec.retry?.maxAttempts,
      percent: s.progress?.percent,
      partitionsDone: s.progress?.partitionsDone,
      partitionsTotal: s.progress?.partitionsTotal,
      rows: s.output?.rows ?? s.progress?.rows,
      rowsPerSecond: s.progress?.rowsPerSecond,
      bytesPerSecond: s.progress?.bytesPerSecond,
      // A stored procedure job reads and writes the one store it runs on.
      source: (j.spec.source ?? j.spec.storedProcedure)?.dataStoreRef.name ?? "",
      sink: j.spec.sink?.dataStoreRef.name ?? `procedure ${j.spec.storedProcedure?.procedure ?? ""}`,
      createdAt: j.metadata.creationTimestamp,
      ageSeconds: secondsBetween(j.metadata.creationTimestamp, now),
    });
  });
  return { namespace, gateways: gatewayRows, nodes: nodeRows, jobs: jobRows, jobsTotal: gatewayJobs.length };
}

function ago(seconds: number | undefined): string {
  return seconds === undefined ? NONE : humanDuration(seconds * 1000);
}

function progress(job: JobRow): string {
  if (job.percent !== undefined) return `${Math.floor(job.percent)}%`;
  if (job.partitionsTotal) return `${job.partitionsDone ?? 0}/${job.partitionsTotal}`;
  return NONE;
}

function throughput(job: JobRow, wide: boolean): string {
  const parts: string[] = [];
  if (job.rowsPerSecond !== undefined) parts.push(`${compact(job.rowsPerSecond)} rows/s`);
  if (wide && job.bytesPerSecond !== undefined) parts.push(`${bytes(job.bytesPerSecond)}/s`);
  return parts.length > 0 ? parts.join(", ") : NONE;
}

function attempt(job: JobRow): string {
  if (!job.attempt) return NONE;
  return job.maxAttempts === undefined ? String(job.attempt) : `${job.attempt}/${job.maxAttempts}`;
}

export function renderStatus(view: StatusView, options: { oneGateway: boolean; wide: boolean }): string {
  const { oneGateway, wide } = options;
  const withGateway = (cells: string[], gateway: string) =>
    oneGateway ? cells : [cells[0]!, gateway, ...cells.slice(1)];
  if (view.gateways.length + view.nodes.length + view.jobs.length === 0) {
    return `No gateways, nodes or jobs in namespace "${view.namespace}".\n`;
  }
  const sections: string[] = [];
  if (view.gateways.length === 0) {
    sections.push(`No gateways in namespace "${view.namespace}".`);
  } else {
    sections.push(
      table(
        ["gateway", "phase", "version", "nodes", "dispatcher", "jobs", "pending", "age"],
        view.gateways.map((g) => [
          g.name,
          g.phase ?? (g.publicKeyReady ? NONE : "(not reconciled)"),
          orNone(g.version),
          ratio(g.nodes.ready, g.nodes.desired),
          orNone(g.dispatcher),
          ratio(g.jobs.running, g.jobs.limit),
          orNone(g.jobs.pending),
          ago(g.ageSeconds),
        ]),
      ),
    );
  }
  if (view.nodes.length === 0) {
    sections.push("No nodes.");
  } else {
    const headers = withGateway(["node", "state", "role", "version", "jobs", "heartbeat", "type"], "gateway");
    if (wide) headers.push("host", "cpu", "memory");
    sections.push(
      table(
        headers,
        view.nodes.map((n) => {
          const state = n.state ?? "Unknown";
          const row = withGateway(
            [
              n.name,
              n.cordoned ? `${state},Cordoned` : state,
              orNone(n.role),
              orNone(n.version),
              ratio(n.jobs.running, n.jobs.limit),
              ago(n.heartbeatAgeSeconds),
              n.managed ? "managed" : "external",
            ],
            n.gateway,
          );
          if (wide) {
            row.push(
              orNone(n.host),
              n.cpuPercent === undefined ? NONE : `${Math.round(n.cpuPercent)}%`,
              n.availableMemoryBytes === undefined ? NONE : `${bytes(n.availableMemoryBytes)} free`,
            );
          }
          return row;
        }),
      ),
    );
  }
  if (view.jobs.length === 0) {
    sections.push("No jobs.");
  } else {
    const headers = withGateway(
      ["job", "phase", "node", "attempt", "progress", "rows", "throughput", "age"],
      "gateway",
    );
    if (wide) headers.push("source", "sink");
    const rows = view.jobs.map((j) => {
      const row = withGateway(
        [
          j.name,
          j.phase,
          orNone(j.node),
          attempt(j),
          progress(j),
          compact(j.rows),
          throughput(j, wide),
          ago(j.ageSeconds),
        ],
        j.gateway,
      );
      if (wide) row.push(j.source, j.sink);
      return row;
    });
    let jobs = table(headers, rows);
    const hidden = view.jobsTotal - view.jobs.length;
    if (hidden > 0) jobs += `\n(${hidden} older job${hidden === 1 ? "" : "s"} not shown; --jobs 0 shows all)`;
    sections.push(jobs);
  }
  return `${sections.join("\n\n")}\n`;
}

export const status: Command = {
  name: "status",
  summary: "gateways, nodes and recent jobs at a glance",
  help: HELP,
  async run(args: string[], session: Session): Promise<number> {
    const { values, positionals } = parseCommand(args, {
      gateway: { type: "string" },
      jobs: { type: "string" },
      output: { type: "string", short: "o" },
    });
    if (helpRequested(values, this, session.io)) return EXIT_OK;
    if (positionals.length > 0) throw new UsageError("status takes no arguments (use --gateway <name>)");
    if (values.gateway !== undefined) checkName("gateway", values.gateway);
    if (values.output !== undefined && !["wide", "json"].includes(values.output)) {
      throw new UsageError(`unknown output format "${values.output}" (use wide or json)`);
    }
    const jobLimit = values.jobs === undefined ? DEFAULT_JOBS : Number(values.jobs);
    if (!Number.isInteger(jobLimit) || jobLimit < 0) {
      throw new UsageError("--jobs must be a whole number (0 shows all)");
    }

    const { kube, namespace } = await session.connect(values);
    const [gateways, nodes, jobs] = await Promise.all([
      values.gateway === undefined
        ? kube.list<LogicalGateway>(FERRY_API, "LogicalGateway", namespace)
        : getRequired(kube, "LogicalGateway", namespace, values.gateway).then((g) => [g]),
      kube.list<GatewayNode>(FERRY_API, "GatewayNode", namespace),
      kube.list<CopyJob>(FERRY_API, "CopyJob", namespace),
    ]);
    const view = statusView(
      namespace,
      gateways,
      nodes,
      jobs,
      { ...(values.gateway === undefined ? {} : { gateway: values.gateway }), jobLimit },
      session.io.now(),
    );
    session.io.out(
      values.output === "json"
        ? json(view)
        : renderStatus(view, { oneGateway: values.gateway !== undefined, wide: values.output === "wide" }),
    );
    return EXIT_OK;
  },
};
