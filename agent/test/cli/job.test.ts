/**
 * `ferry describe job` and `ferry logs job` against the real API server: a job with a lost first
 * attempt, a checkpoint, an output, a condition and Events of both APIs (events.k8s.io/v1 as the
 * operator writes them, core v1 as older tools do) shows every piece; `logs -f` follows it to the
 * end; an unknown job or kind is a clear failure.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { KubeObject } from "@ferry/common/kube";
import { API_VERSION, type CopyJob } from "@ferry/crds";
import { copyJobFixture } from "@ferry/crds/fixtures";
import { eventually, installCrds, testKube, testNamespace } from "@ferry/hack/testing";
import { ago, assertFails, assertOk, ferry, inNamespace, setStatus } from "./helpers.ts";

before(async () => {
  await installCrds(testKube());
});

const T0 = Date.now();

const lostThenRunning: NonNullable<CopyJob["status"]> = {
  phase: "Running",
  node: "demo-1",
  attempt: 2,
  startTime: ago(600, T0),
  attempts: [
    {
      attempt: 1,
      node: "demo-0",
      result: "Failed",
      reason: "NodeLost",
      message: "node demo-0 stopped renewing its lease",
      startTime: ago(600, T0),
      completionTime: ago(480, T0),
    },
    { attempt: 2, node: "demo-1", result: "Running", startTime: ago(420, T0) },
  ],
  progress: {
    percent: 50,
    rows: 2_000_000,
    bytes: 3 * 1024 * 1024,
    partitionsDone: 2,
    partitionsTotal: 4,
    rowsPerSecond: 4200,
  },
  checkpoint: {
    committedPartitions: [
      {
        id: "p0",
        rows: 1_000_000,
        bytes: 1_572_864,
        checksum: "sha256:aa",
        uri: "http://blob/exports/orders/part-p0.csv",
      },
      {
        id: "p1",
        rows: 1_000_000,
        bytes: 1_572_864,
        checksum: "sha256:bb",
        uri: "http://blob/exports/orders/part-p1.csv",
      },
    ],
  },
  conditions: [
    {
      type: "Ready",
      status: "False",
      reason: "Running",
      message: "attempt 2 of 3 on demo-1",
      lastTransitionTime: ago(420, T0),
    },
  ],
};

function microTime(iso: string): string {
  return iso.replace("Z", ".000000Z");
}

async function jobWithHistory(t: Parameters<typeof testNamespace>[0]) {
  const env = await testNamespace(t);
  const { kube, namespace } = env;
  const job = await kube.create(copyJobFixture("orders", inNamespace(namespace)));
  await setStatus(kube, job, lostThenRunning);
  const regarding = {
    apiVersion: API_VERSION,
    kind: "CopyJob",
    name: "orders",
    namespace,
    uid: job.metadata.uid,
  };
  await kube.create<KubeObject & Record<string, unknown>>({
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: "orders.lost", namespace },
    eventTime: microTime(ago(470, T0)),
    reportingController: "ferry.dev/agent",
    reportingInstance: "ferry-agent-demo-1",
    action: "Requeue",
    reason: "NodeLost",
    note: "requeued after node demo-0 was lost; 2 of 4 partitions are committed",
    type: "Warning",
    regarding,
  });
  await kube.create<KubeObject & Record<string, unknown>>({
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: "orders.assigned", namespace },
    involvedObject: regarding,
    reason: "Assigned",
    message: "assigned to demo-1",
    type: "Normal",
    source: { component: "ferry-dispatcher" },
    firstTimestamp: ago(440, T0),
    lastTimestamp: ago(430, T0),
    count: 2,
  });
  // An Event about another object of the same name is not this job's.
  await kube.create<KubeObject & Record<string, unknown>>({
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: "orders.other", namespace },
    involvedObject: { apiVersion: API_VERSION, kind: "DataStore", name: "orders", namespace },
    reason: "Unrelated",
    message: "about a DataStore",
    type: "Normal",
    firstTimestamp: ago(400, T0),
    lastTimestamp: ago(400, T0),
  });
  return { ...env, job };
}

test("describe job shows attempts, progress, checkpoint, conditions and events", async (t) => {
  const { kubeconfig, namespace } = await jobWithHistory(t);
  const [text, asJson, alias] = await Promise.all([
    ferry(["describe", "job", "orders"], { kubeconfig, namespace }),
    ferry(["describe", "job", "orders", "-o", "json"], { kubeconfig, namespace }),
    ferry(["describe", "cj", "orders"], { kubeconfig, namespace }),
  ]);
  assertOk(text);
  const out = text.stdout;
  assert.match(out, /^Name: +orders\nNamespace: +\S+\nGateway: +demo\n/);
  assert.match(out, /\nSource: +pg-source, table public\.orders\n/);
  assert.match(out, /\nSink: +blob-sink, path exports\/orders \(Csv, compression None, FailIfExists\)\n/);
  assert.match(out, /\nPhase: +Running\nNode: +demo-1\nAttempt: +2 of 3\n/);
  assert.match(out, /\nDuration: +10m\d*s? so far\n/);
  assert.match(out, /\nProgress: +50%, 2\/4 partitions, 2,000,000 rows, 3 MiB, 4\.2k rows\/s\n/);
  assert.match(out, /\nAttempts:\n {2}ATTEMPT +NODE +RESULT +REASON +STARTED +ENDED +DURATION +MESSAGE\n/);
  assert.match(
    out,
    /\n {2}1 +demo-0 +Failed +NodeLost +\S+Z +\S+Z +2m +node demo-0 stopped renewing its lease\n {2}2 +demo-1 +Running +- +\S+Z +- +\d+m\d*s?\s+-\n/,
  );
  assert.match(
    out,
    /\nCheckpoint: +2 of 4 partitions committed\n {2}PARTITION +ROWS +BYTES +CHECKSUM +URI\n/,
  );
  assert.match(
    out,
    /\n {2}p0 +1,000,000 +1\.5 MiB +sha256:aa +http:\/\/blob\/exports\/orders\/part-p0\.csv\n/,
  );
  assert.match(out, /\nOutput: +<none>\n/);
  assert.match(
    out,
    /\nConditions:\n {2}TYPE .*\n {2}Ready +False +Running +\d+m\d*s? +attempt 2 of 3 on demo-1\n/,
  );
  assert.match(out, /\nEvents:\n {2}TYPE +REASON +AGE +FROM +MESSAGE\n/);
  assert.match(
    out,
    /\n {2}Normal +Assigned +\d+m\d*s? \(x2 over \d+m\d*s?\) +ferry-dispatcher +assigned to demo-1\n/,
  );
  assert.match(
    out,
    /\n {2}Warning +NodeLost +\d+m\d*s? +ferry\.dev\/agent +requeued after node demo-0 was lost/,
  );
  assert.ok(!out.includes("Unrelated"), "events of other objects are left out");
  assert.ok(out.indexOf("NodeLost  ") < out.indexOf("Assigned"), "events oldest first");

  assertOk(asJson);
  const parsed = JSON.parse(asJson.stdout) as { job: CopyJob; events: { reason: string }[] };
  assert.deepEqual(parsed.job.status?.attempts, lostThenRunning.attempts);
  assert.deepEqual(
    parsed.events.map((e) => e.reason),
    ["NodeLost", "Assigned"],
  );
  assertOk(alias);
  assert.match(alias.stdout, /^Name: +orders\n[\s\S]*\nAttempts:\n/);
});

test("logs job is the history as a timeline, and -f follows it to the end", async (t) => {
  const { kube, kubeconfig, namespace, job } = await jobWithHistory(t);
  const at = { kubeconfig, namespace };
  const once = await ferry(["logs", "job", "orders"], at);
  assertOk(once);
  const texts = once.stdout
    .trimEnd()
    .split("\n")
    .map((l) => l.replace(/^\S+ +/, ""));
  // By time: the history written here predates the object, so "job created" (set by the API server
  // now) comes last; views.test.ts covers the order of a history that starts with the creation.
  assert.deepEqual(texts, [
    "attempt 1 started on demo-0",
    "attempt 1 Failed on demo-0 after 2m: NodeLost: node demo-0 stopped renewing its lease",
    "event Warning NodeLost from ferry.dev/agent: requeued after node demo-0 was lost; 2 of 4 partitions are committed",
    "event Normal Assigned from ferry-dispatcher: assigned to demo-1 (x2)",
    "attempt 2 started on demo-1",
    "condition Ready=False (Running): attempt 2 of 3 on demo-1",
    "job created",
  ]);

  // Following: the job ends while `logs -f` watches; it prints the end and exits by itself.
  let seen = "";
  const following = ferry(["logs", "job", "orders", "-f", "--interval", "0.3"], {
    ...at,
    onStdout: (soFar) => (seen = soFar),
  });
  await eventually("logs -f to print the history so far", async () => seen.includes("job created"));
  const completed = ago(0);
  await setStatus(kube, job, {
    phase: "Succeeded",
    completionTime: completed,
    attempts: [
      lostThenRunning.attempts![0]!,
      { ...lostThenRunning.attempts![1]!, result: "Succeeded", completionTime: completed },
    ],
    output: { rows: 4_000_000, uris: ["a", "b", "c", "d"], checksum: "sha256:ff" },
  });
  const follow = await following;
  assertOk(follow);
  assert.match(follow.stdout, /^\S+ +attempt 1 started on demo-0\n/);
  assert.match(
    follow.stdout,
    /\n\S+ +attempt 2 Succeeded on demo-1 after \d+m\d*s?\n\S+ +job Succeeded: 4,000,000 rows in 4 files, checksum sha256:ff\n$/,
  );
  assert.equal(follow.stdout.match(/job created/g)?.length, 1, "nothing printed twice");
});

test("describe and logs fail clearly for an unknown job or kind", async (t) => {
  const { kubeconfig, namespace } = await testNamespace(t);
  const at = { kubeconfig, namespace };
  const [missing, missingLogs, kind, noName, extra] = await Promise.all([
    ferry(["describe", "job", "nope"], at),
    ferry(["logs", "job", "nope"], at),
    ferry(["describe", "gateway", "demo"], at),
    ferry(["describe", "job"], at),
    ferry(["logs", "job", "a", "b"], at),
  ]);
  assertFails(missing, 1, /^ferry describe: CopyJob "nope" not found in namespace "t-/);
  assertFails(missingLogs, 1, /^ferry logs: CopyJob "nope" not found/);
  assertFails(kind, 2, /ferry describe shows jobs: ferry describe job <name> \(not "gateway"\)/);
  assertFails(noName, 2, /usage: ferry describe job <name>/);
  assertFails(extra, 2, /takes one job name/);
});
