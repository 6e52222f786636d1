/**
 * The process runtime as a program of its own, for the demo or a cluster started by another
 * process:
 *
 *   node hack/src/kubelet/main.ts --kubeconfig K --node process-0 [--node process-1]
 *        [--images images.json] [--data-dir D] [--backoff-base-ms 10000] [--broken-tag broken]
 *        [--taint key=value:NoSchedule] [--label key=value] [--keep-logs]
 *        [--on-stop not-ready|delete|leave]
 *
 * Without --images the repository's own images are used (repositoryImages: ferry/agent,
 * ferry/operator, ferry/testbin, from this working tree). SIGTERM or SIGINT stops every node
 * (`--on-stop`: mark it NotReady, the default; delete it; or leave pods and node as a dead kubelet
 * would). "ready" is printed once every node is registered and watching its pods.
 *
 * The process calls itself `ferry-process-node` (process.title), so that a cluster's state file can
 * tell it from an unrelated process that reused its pid (see hack/src/cluster/process.ts `runs`).
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type ImageMap,
  PROCESS_NODE_TITLE,
  type ProcessNode,
  repositoryImages,
  startProcessNode,
  type Taint,
} from "./index.ts";

function parseTaint(text: string): Taint {
  const match = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(text);
  if (!match) throw new Error(`--taint ${text}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
  return {
    key: match[1]!,
    ...(match[2] !== undefined ? { value: match[2] } : {}),
    effect: match[3] as Taint["effect"],
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      node: { type: "string", multiple: true },
      images: { type: "string" },
      "data-dir": { type: "string" },
      "backoff-base-ms": { type: "string" },
      "broken-tag": { type: "string" },
      taint: { type: "string", multiple: true },
      label: { type: "string", multiple: true },
      "keep-logs": { type: "boolean" },
      "on-stop": { type: "string", default: "not-ready" },
    },
  });
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfig || !values.node?.length) {
    console.error("usage: main.ts --kubeconfig FILE --node NAME [--node NAME...] [--images images.json] ...");
    process.exit(2);
  }
  process.title = PROCESS_NODE_TITLE;
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const images: ImageMap = values.images
    ? (JSON.parse(await readFile(values.images, "utf8")) as ImageMap)
    : repositoryImages(root);
  const labels = Object.fromEntries((values.label ?? []).map((l) => l.split("=", 2) as [string, string]));
  const log = (message: string) => console.error(`${new Date().toISOString()} ${message}`);
  const nodes: ProcessNode[] = [];
  const mode = values["on-stop"];
  if (!["not-ready", "delete", "leave"].includes(mode))
    throw new Error(`--on-stop ${mode}: not-ready, delete or leave`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const results = await Promise.allSettled(
      nodes.map((n) => n.stop({ leavePods: mode === "leave", deleteNode: mode === "delete" })),
    );
    for (const r of results) if (r.status === "rejected") log(`stop failed: ${(r.reason as Error).message}`);
    process.exit(results.every((r) => r.status === "fulfilled") ? 0 : 1);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  for (const nodeName of values.node) {
    nodes.push(
      await startProcessNode({
        kubeconfig,
        nodeName,
        images,
        ...(values["data-dir"] ? { dataDir: join(values["data-dir"], nodeName) } : {}),
        ...(values["backoff-base-ms"] ? { restartBackoffBaseMs: Number(values["backoff-base-ms"]) } : {}),
        ...(values["broken-tag"] ? { brokenTag: values["broken-tag"] } : {}),
        ...(values.taint ? { taints: values.taint.map(parseTaint) } : {}),
        ...(values.label ? { labels } : {}),
        keepLogs: values["keep-logs"] ?? false,
        log,
      }),
    );
  }
  console.log("ready");
}

await main();
