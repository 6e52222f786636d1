/**
 * What the API server itself recorded during a benchmark window: the writes from its audit log
 * (the local cluster audits every write at Metadata level, hack/src/cluster/components.ts) and
 * every request from its `apiserver_request_total` counter. Counted, never estimated.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { kubeconfigAccess } from "@ferry/common";

export function auditLogOf(clusterDir: string): string {
  return join(clusterDir, "logs", "audit.log");
}

/** Where the window's events start: audit logs only grow (rotation is at 200 MB). */
export async function auditOffset(file: string): Promise<number> {
  return (await stat(file).catch(() => ({ size: 0 }))).size;
}

export interface AuditWrite {
  verb: string;
  /** `copyjobs`, `copyjobs/status`, `leases`, ... */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  user: string;
  code: number;
  /** When the server received the request and when it answered, ms since the epoch (µs kept). */
  received: number;
  completed: number;
}

interface AuditEvent {
  stage: string;
  verb: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

/** RFC 3339 with microseconds to fractional ms (Date.parse keeps only ms). */
function micros(text: string): number {
  const m = /\.(\d+)Z$/.exec(text);
  const whole = Date.parse(text.replace(/\.\d+Z$/, "Z"));
  return m ? whole + Number(`0.${m[1]}`) * 1000 : whole;
}

/** The writes answered within [from, to] (ms since the epoch), read from `offset` on. */
export async function readWrites(
  file: string,
  offset: number,
  from: number,
  to: number,
): Promise<AuditWrite[]> {
  const out: AuditWrite[] = [];
  const lines = createInterface({ input: createReadStream(file, { start: offset }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (e.stage !== "ResponseComplete" || !WRITE_VERBS.has(e.verb)) continue;
    const completed = micros(e.stageTimestamp);
    if (completed < from || completed > to) continue;
    const ref = e.objectRef ?? {};
    out.push({
      verb: e.verb,
      resource: ref.subresource ? `${ref.resource}/${ref.subresource}` : (ref.resource ?? "?"),
      namespace: ref.namespace,
      name: ref.name,
      user: e.user?.username ?? "?",
      code: e.responseStatus?.code ?? 0,
      received: micros(e.requestReceivedTimestamp),
      completed,
    });
  }
  return out;
}

/** `apiserver_request_total` by its labels (verb, group, resource, subresource, code, ...). */
export type RequestCounts = Map<string, number>;

export async function requestCounts(kubeconfig: string): Promise<RequestCounts> {
  const access = kubeconfigAccess(kubeconfig);
  const url = new URL(`${access.server}/metrics`);
  const options: https.RequestOptions = { method: "GET" };
  await access.apply(options);
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET /metrics: ${res.statusCode} ${body.slice(0, 200)}`));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  const counts: RequestCounts = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const end = line.lastIndexOf("}");
    counts.set(line.slice("apiserver_request_total".length, end + 1), Number(line.slice(end + 1)));
  }
  return counts;
}

export interface RequestDelta {
  verb: string;
  resource: string;
  requests: number;
}

/** Requests made between two scrapes, by verb and resource (subresource appended). */
export function requestDelta(before: RequestCounts, after: RequestCounts): RequestDelta[] {
  const sums = new Map<string, RequestDelta>();
  for (const [labels, value] of after) {
    const n = value - (before.get(labels) ?? 0);
    if (n <= 0) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(labels)?.[1] ?? "";
    const sub = label("subresource");
    const resource = `${label("resource")}${sub ? `/${sub}` : ""}`;
    const verb = label("verb");
    const key = `${verb} ${resource}`;
    const entry = sums.get(key) ?? { verb, resource, requests: 0 };
    entry.requests += n;
    sums.set(key, entry);
  }
  return [...sums.values()].sort((a, b) => b.requests - a.requests);
}
