/**
 * What the agent's CopyJob caches (the dispatcher's and each worker's informer) keep of a job. A
 * finished job is never acted on again, since every decision starts with "not final", so of the
 * thousands a gateway accumulates only a stub stays: which gateway, which node, which final phase,
 * without the status history, checkpoint and managedFields that are most of a job's size. Jobs
 * still in flight are kept whole: their cached copy is what the next status write starts from
 * (job-writer.ts), so nothing of it may be missing.
 */
import { slimMetadata } from "@ferry/common/runtime";
import type { CopyJob } from "@ferry/crds";
import { isFinal } from "./policy/job-status.ts";

export function cachedJob(job: CopyJob): CopyJob {
  if (!isFinal(job.status)) return job;
  const { phase, node, attempt, completionTime } = job.status!;
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    metadata: slimMetadata(job.metadata),
    spec: { gatewayRef: job.spec.gatewayRef },
    status: { phase, node, attempt, completionTime },
  };
}
