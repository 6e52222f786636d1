/**
 * The CLI's pure parts, without a cluster: credential input parsing (and that no error quotes a
 * value), the kubectl-style formatting, the joined status view and the job timeline.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { copyJobFixture, gatewayFixture, nodeFixture } from "@ferry/crds/fixtures";
import { checkFieldsForType, parseCredentials } from "../../src/cli/credentials-input.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { compact, humanDuration, table } from "../../src/cli/format.ts";
import { renderEntry, timeline } from "../../src/cli/logs.ts";
import { renderStatus, statusView } from "../../src/cli/status.ts";

const SECRET = "hunter2-Sup3r{secret";

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `a UsageError, got ${String(err)}`);
    assert.ok(!err.message.includes(SECRET), `the message quotes the secret: ${err.message}`);
    assert.ok(!err.message.includes("hunter2"), `the message quotes part of the secret: ${err.message}`);
    return err.message;
  }
  assert.fail("no error");
}

describe("credential input", () => {
  test("literals, files and stdin are combined; values are kept exactly", () => {
    const creds = parseCredentials({
      literals: [`password=${SECRET}= x `],
      files: [{ name: "f.env", text: "# a comment\r\n\r\n  username=ferry\r\n" }],
    });
    assert.deepEqual(creds, { password: `${SECRET}= x `, username: "ferry" });
    assert.deepEqual(parseCredentials({ literals: [], files: [], stdin: `{"accountKey": "${SECRET}"}\n` }), {
      accountKey: SECRET,
    });
  });

  const cases: { name: string; input: Parameters<typeof parseCredentials>[0]; message: RegExp }[] = [
    {
      name: "nothing",
      input: { literals: [], files: [], stdin: "\n# only a comment\n" },
      message: /no credential/,
    },
    {
      name: "a bare secret on stdin",
      input: { literals: [], files: [], stdin: SECRET },
      message: /stdin line 1 is not key=value/,
    },
    {
      name: "a literal without =",
      input: { literals: [SECRET], files: [] },
      message: /--from-literal #1 is not key=value/,
    },
    {
      name: "an unknown field",
      input: { literals: ["passwd=x"], files: [] },
      message:
        /unknown credential field "passwd"; DataStore credentials use username, password, connectionString, accountKey, sasToken/,
    },
    {
      name: "a field name that looks like a secret",
      input: { literals: [`${SECRET}=x`], files: [] },
      message: /unknown credential field \(not shown\)/,
    },
    {
      name: "a field twice",
      input: { literals: ["password=a"], files: [{ name: "f", text: `password=${SECRET}` }] },
      message: /f line 1: credential field "password" is given twice/,
    },
    {
      name: "broken JSON with a secret in it",
      input: { literals: [], files: [], stdin: `{"password": "${SECRET}"` },
      message: /stdin starts with "\{" but is not valid JSON/,
    },
    {
      name: "a JSON value that is not a string",
      input: { literals: [], files: [], stdin: '{"password": 12345}' },
      message: /credential field "password" must be a string/,
    },
  ];
  for (const c of cases) {
    test(`refuses ${c.name} without quoting a value`, () => {
      assert.match(
        usageError(() => parseCredentials(c.input)),
        c.message,
      );
    });
  }

  test("fields are checked against the store type", () => {
    checkFieldsForType({ username: "u", password: "p" }, "PostgreSQL", "pg");
    checkFieldsForType({ sasToken: "s" }, "AzureBlob", "blob");
    assert.match(
      usageError(() => checkFieldsForType({ accountKey: SECRET }, "MySQL", "db")),
      /type MySQL, which does not use accountKey: databases use username and password/,
    );
    assert.match(
      usageError(() => checkFieldsForType({ accountKey: SECRET, sasToken: SECRET }, "AzureBlob", "blob")),
      /exactly one of connectionString, accountKey or sasToken, not accountKey and sasToken/,
    );
  });
});

describe("formatting", () => {
  test("durations read like kubectl's", () => {
    const cases: [number, string][] = [
      [-5000, "<invalid>"],
      [0, "0s"],
      [119_000, "119s"],
      [200_000, "3m20s"],
      [600_000, "10m"],
      [3 * 3600_000 + 5 * 60_000, "3h5m"],
      [30 * 3600_000, "30h"],
      [(3 * 24 + 4) * 3600_000, "3d4h"],
      [120 * 24 * 3600_000, "120d"],
      [(2 * 365 + 3) * 24 * 3600_000, "2y3d"],
    ];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text, `${ms} ms`);
  });

  test("counts are short", () => {
    assert.deepEqual([999, 12_345, 4_567_890, 1_200_000_000].map(compact), ["999", "12.3k", "4.57M", "1.2G"]);
  });

  test("tables pad columns and keep no trailing blanks", () => {
    assert.equal(
      table(
        ["name", "phase"],
        [
          ["a", "Running"],
          ["longer", ""],
        ],
      ),
      "NAME     PHASE\na        Running\nlonger",
    );
  });
});

describe("status view", () => {
  const now = new Date("2025-06-01T12:00:00Z");
  const at = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();
  const gw = (name: string) =>
    gatewayFixture(name, (g) => {
      g.metadata.creationTimestamp = at(7200);
      g.status = {
        phase: "Online",
        version: "1.2.0",
        nodes: { ready: 2, desired: 2 },
        dispatcher: `${name}-0`,
        jobs: { running: 1, limit: 8 },
        publicKey: "k",
      };
    });
  const node = (name: string, gateway: string, heartbeat: number) =>
    nodeFixture(name, (n) => {
      n.spec.gatewayRef.name = gateway;
      n.status = {
        state: "Online",
        role: "Worker",
        version: "1.2.0",
        lastHeartbeatTime: at(heartbeat),
        jobs: { running: 1, limit: 4 },
      };
    });
  const job = (name: string, gateway: string, createdAgo: number, phase?: "Pending" | "Running") =>
    copyJobFixture(name, (j) => {
      j.spec.gatewayRef.name = gateway;
      j.metadata.creationTimestamp = at(createdAgo);
      j.spec.retry = { maxAttempts: 3 }; // as the API server defaults it
      if (phase) j.status = { phase };
    });

  const gateways = [gw("b"), gw("a")];
  const nodes = [node("b-0", "b", 3), node("a-1", "a", 200), node("a-0", "a", 4)];
  const jobs = [
    job("old", "a", 900, "Pending"),
    job("new", "a", 60, "Running"),
    job("other", "b", 30),
    job("mid", "a", 300),
  ];

  test("joins gateways, nodes and newest jobs, filtered to one gateway", () => {
    const view = statusView("ns", gateways, nodes, jobs, { gateway: "a", jobLimit: 2 }, now);
    assert.deepEqual(
      view.gateways.map((g) => g.name),
      ["a"],
    );
    // No pending count from the operator: the jobs' own phases (absent counts as Pending).
    assert.equal(view.gateways[0]!.jobs.pending, 2);
    assert.deepEqual(
      view.nodes.map((n) => [n.name, n.heartbeatAgeSeconds]),
      [
        ["a-0", 4],
        ["a-1", 200],
      ],
    );
    assert.deepEqual(
      view.jobs.map((j) => j.name),
      ["new", "mid"],
    );
    assert.equal(view.jobsTotal, 3);
    assert.equal(view.jobs[0]!.maxAttempts, 3);
    const text = renderStatus(view, { oneGateway: true, wide: false });
    assert.match(
      text,
      /^GATEWAY +PHASE +VERSION +NODES +DISPATCHER +JOBS +PENDING +AGE\na +Online +1\.2\.0 +2\/2 +a-0 +1\/8 +2 +120m\n/,
    );
    assert.match(
      text,
      /\nNODE +STATE +ROLE +VERSION +JOBS +HEARTBEAT +TYPE\na-0 +Online +Worker +1\.2\.0 +1\/4 +4s +external\n/,
    );
    assert.match(text, /\nJOB +PHASE +NODE +ATTEMPT +PROGRESS +ROWS +THROUGHPUT +AGE\nnew +Running +- /);
    assert.match(text, /\(1 older job not shown; --jobs 0 shows all\)\n$/);
  });

  test("without a gateway, every gateway and a gateway column", () => {
    const view = statusView("ns", gateways, nodes, jobs, { jobLimit: 0 }, now);
    assert.deepEqual(
      view.gateways.map((g) => g.name),
      ["a", "b"],
    );
    assert.deepEqual(
      view.nodes.map((n) => n.name),
      ["a-0", "a-1", "b-0"],
    );
    assert.deepEqual(
      view.jobs.map((j) => j.name),
      ["other", "new", "mid", "old"],
    );
    assert.match(
      renderStatus(view, { oneGateway: false, wide: true }),
      /\nJOB +GATEWAY +PHASE .* SOURCE +SINK\nother +b +Pending/,
    );
  });
});

describe("job timeline", () => {
  test("attempts keep their order, events and conditions merge in by time", () => {
    const job = copyJobFixture("j", (j) => {
      j.metadata.creationTimestamp = "2025-06-01T10:00:00Z";
      j.status = {
        phase: "Succeeded",
        completionTime: "2025-06-01T10:09:00Z",
        attempts: [
          {
            attempt: 1,
            node: "n0",
            result: "Failed",
            reason: "NodeLost",
            message: "lease expired",
            startTime: "2025-06-01T10:01:00Z",
            completionTime: "2025-06-01T10:03:00Z",
          },
          {
            attempt: 2,
            node: "n1",
            result: "Succeeded",
            startTime: "2025-06-01T10:04:00Z",
            completionTime: "2025-06-01T10:09:00Z",
          },
        ],
        output: { rows: 1234, uris: ["a", "b"], checksum: "sha256:ab" },
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "Succeeded",
            message: "",
            lastTransitionTime: "2025-06-01T10:09:00Z",
          },
        ],
      };
    });
    const events = [
      {
        type: "Warning",
        reason: "NodeLost",
        message: "requeued",
        from: "ferry-agent",
        count: 2,
        lastTime: "2025-06-01T10:03:30.123456Z",
      },
    ];
    const lines = timeline(job, events, new Date("2025-06-01T12:00:00Z")).map(renderEntry);
    assert.deepEqual(lines, [
      "2025-06-01T10:00:00Z  job created",
      "2025-06-01T10:01:00Z  attempt 1 started on n0",
      "2025-06-01T10:03:00Z  attempt 1 Failed on n0 after 2m: NodeLost: lease expired",
      "2025-06-01T10:03:30Z  event Warning NodeLost from ferry-agent: requeued (x2)",
      "2025-06-01T10:04:00Z  attempt 2 started on n1",
      "2025-06-01T10:09:00Z  attempt 2 Succeeded on n1 after 5m",
      "2025-06-01T10:09:00Z  job Succeeded: 1,234 rows in 2 files, checksum sha256:ab",
      "2025-06-01T10:09:00Z  condition Ready=True (Succeeded)",
    ]);
  });
});
