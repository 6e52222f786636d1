/**
 * The one way the agent changes a CopyJob's status: read the job fresh from the API server (or take
 * the caller's cached copy, see below), let a pure function decide the new status from it (or
 * refuse: undefined), and write it with server-side apply as `ferry-agent` with the resourceVersion
 * read as a precondition. A 409 means the job moved
 * between read and write: read again and decide again, so a decision is never applied on top of a
 * change it did not see (this is what makes "no job assigned twice" hold with several dispatchers
 * racing, e.g. during a failover).
 *
 * Server-side apply with a resourceVersion is as strict as a PUT, and also records the field
 * manager of docs/architecture.md; the agent owns all of CopyJob.status, so applying it whole is right.
 */
import { isConflict, type Kube } from "@ferry/common";
import { applyStatus } from "@ferry/common/runtime";
import type { CopyJob, CopyJobStatus } from "@ferry/crds";
import { FIELD_MANAGER, jobRef } from "./names.ts";

export type Decide = (job: CopyJob) => CopyJobStatus | undefined;

/** Writes refused by a conflict before the caller gets the 409. */
const ATTEMPTS = 6;

/**
 * Resolves to the job as written, or undefined when `decide` refused (or the job is gone).
 *
 * `cached` is the job as last seen (an informer's copy, or what the caller's previous write
 * returned): when `decide` accepts it, it is written at once, saving the read; if it was stale the
 * precondition refuses the write with a 409 and the job is read fresh. A refusal is never taken
 * from a cached copy, only from a fresh read, so a stale cache costs a read, never a decision.
 */
export async function updateJobStatus(
  kube: Kube,
  namespace: string,
  name: string,
  decide: Decide,
  cached?: CopyJob,
): Promise<CopyJob | undefined> {
  const ref = jobRef(namespace, name);
  let candidate = cached;
  for (let i = 1; ; i++) {
    let job = candidate;
    let status = job && decide(job);
    const fromCache = status !== undefined;
    candidate = undefined;
    if (!status) {
      job = await kube.get<CopyJob>(ref);
      if (!job) return undefined;
      status = decide(job);
      if (!status) return undefined;
    }
    try {
      const { written, object } = await applyStatus<CopyJob>(kube, ref, FIELD_MANAGER, status, {
        current: job,
        precondition: true,
      });
      // "Nothing to change" judged from a cached copy proves nothing about the server's.
      if (written || !fromCache) return object;
    } catch (err) {
      if (!isConflict(err) || i >= ATTEMPTS) throw err;
    }
  }
}

/** A decision guard: the job is still this node's current attempt (and not finished). */
export function ownedBy(job: CopyJob, node: string, attempt: number): boolean {
  const s = job.status;
  return s?.node === node && s.attempt === attempt && (s.phase === "Assigned" || s.phase === "Running");
}
