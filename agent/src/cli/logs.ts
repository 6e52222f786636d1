/**
 * `ferry logs job <name>`: the history of a job as a timeline, one line per thing that happened:
 * created, each attempt started and ended (on which node, why), condition changes, Events, and
 * the end. Agents keep no log store a client could read, so this is what a user has to follow a
 * job; the data rows themselves are never logged anywhere.
 */
import type { CopyJob } from "@ferry/crds";
import { type Command, helpRequested, parseCommand, type Session } from "./command.ts";
import { EXIT_OK, UsageError } from "./errors.ts";
import { elapsed, exact, stamp } from "./format.ts";
import { fetchJob, type JobEvent, jobName, timeOf } from "./job.ts";

const HELP = `Show the history of a copy job as a timeline.

Usage:
  ferry logs job <name> [-f]

One line per step, oldest first: the job created, each attempt started on a node and how it ended
(result, reason, message), condition changes, the job's Events, and the final phase with what was
written. "job" may also be written jobs, copyjob or cj.

Options:
  -f, --follow            keep printing new lines until the job succeeds, fails or is cancelled
  --interval <seconds>    how often --follow reads the job (default 2)`;

const FINAL = new Set(["Succeeded", "Failed", "Cancelled"]);

export interface TimelineEntry {
  time?: string;
  text: string;
}

function attemptEnd(a: NonNullable<NonNullable<CopyJob["status"]>["attempts"]>[number], now: Date): string {
  const why = [a.reason, a.message].filter(Boolean).join(": ");
  const took = a.startTime && a.completionTime ? ` after ${elapsed(a.startTime, a.completionTime, now)}` : "";
  return `attempt ${a.attempt} ${a.result ?? "ended"} on ${a.node ?? "?"}${took}${why ? `: ${why}` : ""}`;
}

function eventText(e: JobEvent): string {
  const count = e.count > 1 ? ` (x${e.count})` : "";
  return `event ${e.type} ${e.reason}${e.from ? ` from ${e.from}` : ""}: ${e.message}${count}`;
}

/**
 * The job's own steps keep their order (an attempt's start without a time sorts with the step
 * before it); Events and conditions are merged in by time. Pure, for tests.
 */
export function timeline(job: CopyJob, events: JobEvent[], now: Date): TimelineEntry[] {
  const s = job.status ?? {};
  const steps: TimelineEntry[] = [{ time: job.metadata.creationTimestamp, text: "job created" }];
  for (const a of s.attempts ?? []) {
    steps.push({ time: a.startTime, text: `attempt ${a.attempt} started on ${a.node ?? "?"}` });
    if (a.result && a.result !== "Running") steps.push({ time: a.completionTime, text: attemptEnd(a, now) });
  }
  if (s.phase && FINAL.has(s.phase)) {
    const o = s.output;
    const wrote =
      s.phase === "Succeeded" && o
        ? `: ${exact(o.rows)} rows in ${o.uris?.length ?? 0} file${o.uris?.length === 1 ? "" : "s"}${
            o.checksum ? `, checksum ${o.checksum}` : ""
          }`
        : "";
    steps.push({ time: s.completionTime, text: `job ${s.phase}${wrote}` });
  }
  let previous = 0;
  const keyed = steps.map((step, order) => {
    const at = step.time ? timeOf(step.time) : previous;
    previous = at;
    return { ...step, at, order, rank: 0 };
  });
  const others = [
    ...(s.conditions ?? []).map((c) => ({
      time: c.lastTransitionTime,
      text: `condition ${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}${c.message ? `: ${c.message}` : ""}`,
    })),
    ...events.map((e) => ({ time: e.lastTime, text: eventText(e) })),
  ].map((entry, order) => ({ ...entry, at: timeOf(entry.time), order, rank: 1 }));
  return [...keyed, ...others]
    .sort((a, b) => a.at - b.at || a.rank - b.rank || a.order - b.order)
    .map(({ time, text }) => (time ? { time, text } : { text }));
}

export function renderEntry(entry: TimelineEntry): string {
  return `${stamp(entry.time).padEnd(20)}  ${entry.text}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const logs: Command = {
  name: "logs",
  summary: "a job's history as a timeline: attempts, nodes, reasons, events",
  help: HELP,
  async run(args: string[], session: Session): Promise<number> {
    const { values, positionals } = parseCommand(args, {
      follow: { type: "boolean", short: "f" },
      interval: { type: "string" },
    });
    if (helpRequested(values, this, session.io)) return EXIT_OK;
    const name = jobName("logs", positionals);
    const interval = values.interval === undefined ? 2 : Number(values.interval);
    if (!(interval > 0 && interval <= 3600)) {
      throw new UsageError("--interval must be a number of seconds between 0 and 3600");
    }
    const { kube, namespace } = await session.connect(values);
    const printed = new Set<string>();
    for (;;) {
      const { job, events } = await fetchJob(kube, namespace, name);
      for (const entry of timeline(job, events, session.io.now())) {
        const line = renderEntry(entry);
        if (printed.has(line)) continue;
        printed.add(line);
        session.io.out(`${line}\n`);
      }
      if (!values.follow || FINAL.has(job.status?.phase ?? "")) return EXIT_OK;
      await sleep(interval * 1000);
    }
  },
};
