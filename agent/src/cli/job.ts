/**
 * A CopyJob and its Events, as `ferry describe job` and `ferry logs job` read them. Events are
 * listed as core v1 Events: the API server serves the events.k8s.io/v1 ones the operator and
 * agents write through that API too, so one list sees both.
 */
import type { Kube, KubeObject } from "@ferry/common/kube";
import type { CopyJob } from "@ferry/crds";
import { checkName, getRequired } from "./command.ts";
import { UsageError } from "./errors.ts";

interface CoreEvent extends KubeObject {
  involvedObject?: { kind?: string; name?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string } | null;
  source?: { component?: string };
  reportingComponent?: string;
}

export interface JobEvent {
  type: string;
  reason: string;
  message: string;
  from: string;
  count: number;
  firstTime?: string;
  lastTime?: string;
}

/** The kinds `describe` and `logs` accept, as kubectl names them (singular, plural, short, kind). */
const JOB_KINDS = ["job", "jobs", "copyjob", "copyjobs", "cj"];

/** `<kind> <name>` from the positionals, or a usage error saying what is expected. */
export function jobName(command: string, positionals: string[]): string {
  const [kind, name, ...rest] = positionals;
  if (kind === undefined) throw new UsageError(`usage: ferry ${command} job <name>`);
  if (!JOB_KINDS.includes(kind.toLowerCase())) {
    throw new UsageError(`ferry ${command} shows jobs: ferry ${command} job <name> (not "${kind}")`);
  }
  if (name === undefined) throw new UsageError(`usage: ferry ${command} job <name>`);
  if (rest.length > 0) throw new UsageError(`ferry ${command} takes one job name`);
  return checkName("job", name);
}

function normalise(event: CoreEvent): JobEvent {
  const first = event.firstTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp ?? undefined;
  const last = event.series?.lastObservedTime ?? event.lastTimestamp ?? first;
  return {
    type: event.type ?? "Normal",
    reason: event.reason ?? "",
    message: event.message ?? "",
    from: event.reportingComponent || event.source?.component || "",
    count: event.series?.count ?? event.count ?? 1,
    ...(first ? { firstTime: first } : {}),
    ...(last ? { lastTime: last } : {}),
  };
}

/** Milliseconds since the epoch; RFC 3339 with or without a fraction; missing sorts first. */
export function timeOf(timestamp: string | undefined): number {
  const ms = timestamp ? Date.parse(timestamp) : Number.NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

export async function fetchJob(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<{ job: CopyJob; events: JobEvent[] }> {
  const [job, events] = await Promise.all([
    getRequired(kube, "CopyJob", namespace, name),
    kube.list<CoreEvent>("v1", "Event", namespace, {
      fieldSelector: `involvedObject.kind=CopyJob,involvedObject.name=${name}`,
    }),
  ]);
  // Events of an earlier job of the same name (deleted and created again) are not this job's.
  const own = events.filter((e) => !e.involvedObject?.uid || e.involvedObject.uid === job.metadata.uid);
  return {
    job,
    events: own
      .map(normalise)
      .sort((a, b) => timeOf(a.lastTime) - timeOf(b.lastTime) || a.reason.localeCompare(b.reason)),
  };
}
