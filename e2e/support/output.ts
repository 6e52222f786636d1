/**
 * What a consumer of the copy sees, checked row by row against the source: the parts the
 * `_SUCCESS` manifest lists are read back from Azurite and every `id` is counted, so "exact" means
 * no source row missing and none twice — not merely matching totals.
 */
import assert from "node:assert/strict";
import type { CopyJob } from "@ferry/crds";
import type { Stack } from "./stack.ts";

export interface OutputCheck {
  sourceRows: number;
  outputRows: number;
  /** Source ids found in no listed part. */
  lost: number;
  /** Extra occurrences of ids found more than once. */
  duplicated: number;
  /** Files under the job's folder that are neither listed nor Ferry's own bookkeeping. */
  strayFiles: string[];
}

export async function checkOutput(stack: Stack, job: CopyJob): Promise<OutputCheck> {
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const container = BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient(
    stack.container,
  );
  const folder = job.spec.sink!.path.replace(/\/+$/, "");
  const manifest = JSON.parse(
    (await container.getBlobClient(`${folder}/_SUCCESS`).downloadToBuffer()).toString("utf8"),
  ) as { parts: { file: string }[] };
  const seen = new Map<number, number>();
  for (const part of manifest.parts) {
    const text = (await container.getBlobClient(`${folder}/${part.file}`).downloadToBuffer()).toString(
      "utf8",
    );
    // The first line is the header; the id column is first and never quoted, and the scenario
    // data has no line breaks inside values, so a line is a row.
    for (const line of text.split("\n").slice(1)) {
      if (!line) continue;
      const id = Number(line.slice(0, line.indexOf(",")));
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  const listed = new Set(manifest.parts.map((p) => p.file));
  const strayFiles: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: `${folder}/` })) {
    const name = blob.name.slice(folder.length + 1);
    if (name === "_SUCCESS" || name.startsWith("_ferry/") || listed.has(name)) continue;
    strayFiles.push(name);
  }
  const sourceIds = (await stack.pg.psql("SELECT id FROM orders ORDER BY id", stack.database))
    .split("\n")
    .filter(Boolean)
    .map(Number);
  let lost = 0;
  for (const id of sourceIds) if (!seen.has(id)) lost++;
  let duplicated = 0;
  let outputRows = 0;
  for (const n of seen.values()) {
    outputRows += n;
    duplicated += n - 1;
  }
  return { sourceRows: sourceIds.length, outputRows, lost, duplicated, strayFiles };
}

/** The job's output is the source, exactly: no row lost, none twice, no stray file beside it. */
export async function assertExact(stack: Stack, job: CopyJob): Promise<void> {
  const out = await checkOutput(stack, job);
  assert.equal(out.lost, 0, `${job.metadata.name}: rows lost`);
  assert.equal(out.duplicated, 0, `${job.metadata.name}: rows duplicated`);
  assert.equal(out.outputRows, stack.rows, `${job.metadata.name}: rows in the output`);
  assert.deepEqual(out.strayFiles, [], `${job.metadata.name}: stray files`);
}
