/**
 * `ferry describe job <name>`: everything about one CopyJob in the layout of `kubectl describe`:
 * what it copies, every attempt (which node ran it and why it ended), progress, the committed
 * partitions, the output, conditions and the job's Events.
 */
import type { CopyJob } from "@ferry/crds";
import { type Command, helpRequested, parseCommand, type Session } from "./command.ts";
import { EXIT_OK, UsageError } from "./errors.ts";
import {
  age,
  bytes,
  compact,
  elapsed,
  exact,
  fields,
  json,
  NONE,
  orNone,
  stamp,
  table,
  when,
} from "./format.ts";
import { fetchJob, type JobEvent, jobName } from "./job.ts";

const HELP = `Show one copy job in detail.

Usage:
  ferry describe job <name> [-o json]

Shows what the job copies, its phase, every attempt (number, node, result, reason, message, start,
end, duration), progress, the checkpoint (partitions committed at the sink, which a retry skips),
the output (files, rows, checksum, manifest), conditions and the job's Events.
"job" may also be written jobs, copyjob or cj. \`ferry logs job <name>\` shows the same history
as a timeline.

Options:
  -o, --output json   the CopyJob object and its Events as JSON`;

const INDENT = "  ";

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => (line ? INDENT + line : line))
    .join("\n");
}

function source(job: CopyJob): string {
  const s = job.spec.source;
  if (!s) return NONE;
  const what = s.table !== undefined ? `table ${s.table}` : "query";
  const parts = [`${s.dataStoreRef.name}, ${what}`];
  const p = s.partitioning;
  if (p && p.mode !== "None") {
    parts.push(
      p.mode === "Column"
        ? `partitioned on ${p.column ?? "?"} into ${p.count ?? 8}`
        : `partitioned automatically${p.count ? ` (at most ${p.count})` : ""}`,
    );
  }
  if (s.incremental) {
    parts.push(
      `incremental on ${s.incremental.watermarkColumn} (${s.incremental.after ?? "start"}, ${s.incremental.upTo ?? "max"}]`,
    );
  }
  return parts.join(", ");
}

function sink(job: CopyJob): string {
  const s = job.spec.sink;
  if (!s) return NONE;
  return `${s.dataStoreRef.name}, path ${s.path} (${s.format}, compression ${s.compression ?? "None"}, ${s.writeMode ?? "FailIfExists"})`;
}

function procedure(job: CopyJob): string {
  const p = job.spec.storedProcedure!;
  const params = (p.parameters ?? []).map(
    (x) => `${x.name} ${x.type}${x.direction && x.direction !== "In" ? ` ${x.direction}` : ""}`,
  );
  return `${p.dataStoreRef.name}: ${p.procedure}(${params.join(", ")})`;
}

function procedureResult(job: CopyJob): string {
  const r = job.status?.procedure;
  if (!r) return NONE;
  const parts = Object.entries(r.outputs ?? {}).map(([k, v]) => `${k}=${v}`);
  if (r.rowsAffected !== undefined) parts.push(`${r.rowsAffected} rows affected`);
  if (r.returnValue !== undefined) parts.push(`return ${r.returnValue}`);
  for (const set of r.resultSets ?? [])
    parts.push(`${set.rows?.length ?? 0}${set.truncated ? "+" : ""} result rows`);
  return parts.join(", ") || "done";
}

function progressLine(job: CopyJob): string {
  const p = job.status?.progress;
  if (!p) return NONE;
  const parts: string[] = [];
  if (p.percent !== undefined) parts.push(`${Math.floor(p.percent)}%`);
  if (p.partitionsTotal !== undefined) parts.push(`${p.partitionsDone ?? 0}/${p.partitionsTotal} partitions`);
  if (p.rows !== undefined) parts.push(`${exact(p.rows)} rows`);
  if (p.bytes !== undefined) parts.push(bytes(p.bytes));
  if (p.rowsPerSecond !== undefined) parts.push(`${compact(p.rowsPerSecond)} rows/s`);
  if (p.bytesPerSecond !== undefined) parts.push(`${bytes(p.bytesPerSecond)}/s`);
  return parts.length > 0 ? parts.join(", ") : NONE;
}

function attemptsSection(job: CopyJob, now: Date): string {
  const attempts = job.status?.attempts ?? [];
  if (attempts.length === 0) return "Attempts:  <none>";
  const rows = attempts.map((a) => [
    String(a.attempt),
    orNone(a.node),
    orNone(a.result),
    orNone(a.reason),
    a.startTime ? stamp(a.startTime) : NONE,
    a.completionTime ? stamp(a.completionTime) : NONE,
    a.startTime ? elapsed(a.startTime, a.completionTime, now) : NONE,
    orNone(a.message),
  ]);
  return `Attempts:\n${indent(
    table(["attempt", "node", "result", "reason", "started", "ended", "duration", "message"], rows),
  )}`;
}

function checkpointSection(job: CopyJob): string {
  const committed = job.status?.checkpoint?.committedPartitions ?? [];
  const total = job.status?.progress?.partitionsTotal;
  const head = `Checkpoint:  ${committed.length}${total === undefined ? "" : ` of ${total}`} partition${
    (total ?? committed.length) === 1 ? "" : "s"
  } committed`;
  if (committed.length === 0) return head;
  const rows = committed.map((p) => [p.id, exact(p.rows), bytes(p.bytes), orNone(p.checksum), orNone(p.uri)]);
  return `${head}\n${indent(table(["partition", "rows", "bytes", "checksum", "uri"], rows))}`;
}

function outputSection(job: CopyJob): string {
  const o = job.status?.output;
  if (!o) return "Output:  <none>";
  const pairs: [string, string][] = [
    ["Rows", exact(o.rows)],
    ["Bytes", bytes(o.bytes)],
    ["Checksum", orNone(o.checksum)],
    ["Manifest", orNone(o.manifestUri)],
  ];
  if (o.watermark !== undefined) pairs.push(["Watermark", o.watermark]);
  const uris = o.uris ?? [];
  pairs.push(["Files", uris.length === 0 ? NONE : String(uris.length)]);
  return `Output:\n${fields(pairs, INDENT)}${uris.map((u) => `\n${INDENT}${INDENT}${u}`).join("")}`;
}

function conditionsSection(job: CopyJob, now: Date): string {
  const conditions = job.status?.conditions ?? [];
  if (conditions.length === 0) return "Conditions:  <none>";
  const rows = conditions.map((c) => [
    c.type,
    c.status,
    orNone(c.reason),
    age(c.lastTransitionTime, now),
    orNone(c.message),
  ]);
  return `Conditions:\n${indent(table(["type", "status", "reason", "age", "message"], rows))}`;
}

function eventsSection(events: JobEvent[], now: Date): string {
  if (events.length === 0) return "Events:  <none>";
  const rows = events.map((e) => {
    const last = age(e.lastTime, now);
    const seen = e.count > 1 ? `${last} (x${e.count} over ${age(e.firstTime, now)})` : last;
    return [e.type, e.reason, seen, orNone(e.from), e.message];
  });
  return `Events:\n${indent(table(["type", "reason", "age", "from", "message"], rows))}`;
}

export function renderJob(job: CopyJob, events: JobEvent[], now: Date): string {
  const s = job.status ?? {};
  const maxAttempts = job.spec.retry?.maxAttempts;
  const duration = s.startTime
    ? `${elapsed(s.startTime, s.completionTime, now)}${s.completionTime ? "" : " so far"}`
    : NONE;
  const head = fields([
    ["Name", job.metadata.name],
    ["Namespace", orNone(job.metadata.namespace)],
    ["Gateway", job.spec.gatewayRef.name],
    ...(job.spec.storedProcedure
      ? [
          ["Procedure", procedure(job)] as [string, string],
          ["Result", procedureResult(job)] as [string, string],
        ]
      : [["Source", source(job)] as [string, string], ["Sink", sink(job)] as [string, string]]),
    ["Phase", s.phase ?? "Pending"],
    ["Node", orNone(s.node)],
    ["Attempt", s.attempt ? `${s.attempt}${maxAttempts === undefined ? "" : ` of ${maxAttempts}`}` : NONE],
    ["Created", when(job.metadata.creationTimestamp, now)],
    ["Started", when(s.startTime, now)],
    ["Completed", when(s.completionTime, now)],
    ["Duration", duration],
    ["Progress", progressLine(job)],
  ]);
  return `${[
    head,
    attemptsSection(job, now),
    checkpointSection(job),
    outputSection(job),
    conditionsSection(job, now),
    eventsSection(events, now),
  ].join("\n")}\n`;
}

export const describe: Command = {
  name: "describe",
  summary: "a job in detail: attempts, progress, checkpoint, output, conditions, events",
  help: HELP,
  async run(args: string[], session: Session): Promise<number> {
    const { values, positionals } = parseCommand(args, { output: { type: "string", short: "o" } });
    if (helpRequested(values, this, session.io)) return EXIT_OK;
    const name = jobName("describe", positionals);
    if (values.output !== undefined && values.output !== "json") {
      throw new UsageError(`unknown output format "${values.output}" (describe prints text or json)`);
    }
    const { kube, namespace } = await session.connect(values);
    const { job, events } = await fetchJob(kube, namespace, name);
    session.io.out(
      values.output === "json" ? json({ job, events }) : renderJob(job, events, session.io.now()),
    );
    return EXIT_OK;
  },
};
