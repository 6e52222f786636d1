import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "../../src/runtime/metrics.ts";
import { startOpsServer } from "../../src/runtime/server.ts";

interface Family {
  help: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** A strict reader of the text format 0.0.4, independent of the writer: the test parses it back. */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const families = new Map<string, Family>();
  let current: Family | undefined;
  let currentName = "";
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, what, name, rest] = meta as unknown as [string, string, string, string];
      if (what === "HELP") {
        current = { help: rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\"), type: "untyped", samples: [] };
        currentName = name;
        families.set(name, current);
      } else {
        assert.equal(name, currentName, "TYPE follows the HELP of the same metric");
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/);
        if (current) current.type = rest;
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    const [, name, body, value] = sample as unknown as [string, string, string | undefined, string];
    assert.ok(name.startsWith(currentName), `${name} belongs to ${currentName}`);
    const labels: Record<string, string> = {};
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let rest = body ?? "";
    while (rest.length) {
      label.lastIndex = 0;
      const m = label.exec(rest);
      assert.ok(m, `labels parse: ${rest}`);
      labels[m[1] as string] = (m[2] as string).replace(/\\(["\\n])/g, (_, c: string) =>
        c === "n" ? "\n" : c,
      );
      rest = rest.slice(m[0].length);
    }
    const number = value === "+Inf" ? Infinity : value === "-Inf" ? -Infinity : Number(value);
    assert.ok(!Number.isNaN(number) || value === "NaN", `a number: ${value}`);
    current?.samples.push({ name, labels, value: number });
  }
  return families;
}

test("counters, gauges and histograms round-trip through the text format", () => {
  const metrics = new Metrics();
  const events = metrics.counter(
    "ferry_test_events_total",
    'Events, with "quotes" and a \\ and a\nnewline.',
    ["kind", "type"],
  );
  events.inc({ kind: "Pod", type: "add" });
  events.inc({ kind: "Pod", type: "add" }, 2);
  events.inc({ kind: 'we"ird\\kind\n', type: "delete" });
  const depth = metrics.gauge("ferry_test_depth", "Depth.", ["controller"]);
  depth.set({ controller: "gateway" }, 5);
  depth.dec({ controller: "gateway" });
  const up = metrics.gauge("ferry_test_up", "No labels.");
  up.set({}, 1);
  const latency = metrics.histogram("ferry_test_seconds", "Latency.", ["controller"], [0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 3]) latency.observe({ controller: "node" }, v);

  const families = parseExposition(metrics.expose());
  const events2 = families.get("ferry_test_events_total");
  assert.equal(events2?.type, "counter");
  assert.equal(events2?.help, 'Events, with "quotes" and a \\ and a\nnewline.');
  assert.deepEqual(events2?.samples, [
    { name: "ferry_test_events_total", labels: { kind: "Pod", type: "add" }, value: 3 },
    { name: "ferry_test_events_total", labels: { kind: 'we"ird\\kind\n', type: "delete" }, value: 1 },
  ]);
  assert.deepEqual(families.get("ferry_test_depth")?.samples, [
    { name: "ferry_test_depth", labels: { controller: "gateway" }, value: 4 },
  ]);
  assert.deepEqual(families.get("ferry_test_up")?.samples, [{ name: "ferry_test_up", labels: {}, value: 1 }]);
  const histogram = families.get("ferry_test_seconds");
  assert.equal(histogram?.type, "histogram");
  assert.deepEqual(
    histogram?.samples.map((s) => [s.name, s.labels.le ?? "", s.value]),
    [
      ["ferry_test_seconds_bucket", "0.1", 2],
      ["ferry_test_seconds_bucket", "1", 3],
      ["ferry_test_seconds_bucket", "+Inf", 4],
      ["ferry_test_seconds_sum", "", 3.65],
      ["ferry_test_seconds_count", "", 4],
    ],
  );
  assert.ok(histogram?.samples.every((s) => s.labels.controller === "node"));
});

test("a metric declared twice is shared; declared differently it is refused", () => {
  const metrics = new Metrics();
  const a = metrics.counter("ferry_test_total", "A.", ["kind"]);
  const b = metrics.counter("ferry_test_total", "A.", ["kind"]);
  a.inc({ kind: "x" });
  b.inc({ kind: "x" });
  assert.equal(a, b);
  assert.equal(a.get({ kind: "x" }), 2);
  assert.throws(() => metrics.gauge("ferry_test_total", "A.", ["kind"]), /already registered/);
  assert.throws(() => metrics.counter("ferry_test_total", "A.", ["other"]), /already registered/);
  assert.throws(() => a.inc({ other: "x" }), /do not match/);
  assert.throws(() => a.inc({ kind: "x" }, -1), /cannot decrease/);
  assert.throws(() => metrics.counter("ferry-bad", "bad name"), /invalid metric name/);
  assert.throws(() => metrics.histogram("ferry_h", "h", ["le"]), /reserved/);
});

test("the ops server serves metrics, liveness and readiness, and closes with a scraper connected", async (t) => {
  const metrics = new Metrics();
  metrics.counter("ferry_test_scrapes_total", "Scrapes.").inc();
  let ready = false;
  const server = await startOpsServer({ port: 0, host: "127.0.0.1", metrics, ready: () => ready });
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.port}`;

  const scrape = await fetch(`${base}/metrics`);
  assert.equal(scrape.status, 200);
  assert.equal(scrape.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.deepEqual(
    parseExposition(await scrape.text()).get("ferry_test_scrapes_total")?.samples[0]?.value,
    1,
  );
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 503, "not ready until told");
  ready = true;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: "POST" })).status, 405);

  // fetch keeps the connection alive; close() must still finish promptly.
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 4_000, "idle keep-alive connections do not hold close()");
  await assert.rejects(fetch(`${base}/healthz`));
});
