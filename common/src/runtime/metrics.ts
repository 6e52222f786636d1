/**
 * A small Prometheus registry: counters, gauges and histograms with labels, exposed in the text
 * format 0.0.4. The operator needs a dozen series, which does not justify a dependency.
 *
 * Asking twice for a metric with the same name, type and label names returns the same metric, so
 * every informer or queue can declare what it counts without a central list; asking with another
 * type or other labels is a programming error and throws.
 */

export type Labels = Readonly<Record<string, string>>;

type MetricType = "counter" | "gauge" | "histogram";

interface Sample {
  suffix: string;
  labels: [string, string][];
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The series of one metric, one per combination of label values. */
class Series<V> {
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, { values: string[]; state: V }>();
  readonly #initial: () => V;

  constructor(labelNames: readonly string[], initial: () => V) {
    this.#labelNames = labelNames;
    this.#initial = initial;
  }

  #values(labels: Labels): string[] {
    const names = Object.keys(labels);
    if (names.length !== this.#labelNames.length || !this.#labelNames.every((n) => n in labels)) {
      throw new Error(`labels {${names.join(",")}} do not match {${this.#labelNames.join(",")}}`);
    }
    return this.#labelNames.map((n) => String(labels[n]));
  }

  /** The state of the series with these labels, created on first use. */
  at(labels: Labels): V {
    const values = this.#values(labels);
    const key = JSON.stringify(values);
    let entry = this.#series.get(key);
    if (!entry) {
      entry = { values, state: this.#initial() };
      this.#series.set(key, entry);
    }
    return entry.state;
  }

  peek(labels: Labels): V | undefined {
    return this.#series.get(JSON.stringify(this.#values(labels)))?.state;
  }

  *entries(): Generator<[[string, string][], V]> {
    for (const { values, state } of this.#series.values()) {
      yield [this.#labelNames.map((n, i) => [n, values[i] ?? ""]), state];
    }
  }
}

interface Collector {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  samples(): Sample[];
}

export class Counter implements Collector {
  readonly type = "counter";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #series: Series<{ value: number }>;

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#series = new Series(labelNames, () => ({ value: 0 }));
  }

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.#series.at(labels).value += by;
  }

  get(labels: Labels = {}): number {
    return this.#series.peek(labels)?.value ?? 0;
  }

  samples(): Sample[] {
    return [...this.#series.entries()].map(([labels, s]) => ({ suffix: "", labels, value: s.value }));
  }
}

export class Gauge implements Collector {
  readonly type = "gauge";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #series: Series<{ value: number }>;

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#series = new Series(labelNames, () => ({ value: 0 }));
  }

  set(labels: Labels, value: number): void {
    this.#series.at(labels).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.#series.at(labels).value += by;
  }

  dec(labels: Labels = {}, by = 1): void {
    this.#series.at(labels).value -= by;
  }

  get(labels: Labels = {}): number {
    return this.#series.peek(labels)?.value ?? 0;
  }

  samples(): Sample[] {
    return [...this.#series.entries()].map(([labels, s]) => ({ suffix: "", labels, value: s.value }));
  }
}

/** Latency buckets in seconds, from a fast cache read to a slow API call. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface HistogramState {
  /** Per bucket, the observations that fell in it (not cumulative; summed on exposition). */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Collector {
  readonly type = "histogram";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly #series: Series<HistogramState>;

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    if (labelNames.includes("le")) throw new Error(`histogram ${name}: "le" is reserved`);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.buckets = [...buckets].sort((a, b) => a - b);
    this.#series = new Series(labelNames, () => ({
      counts: this.buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
  }

  observe(labels: Labels, value: number): void {
    const state = this.#series.at(labels);
    const bucket = this.buckets.findIndex((upper) => value <= upper);
    if (bucket >= 0) state.counts[bucket] = (state.counts[bucket] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  }

  /** Count and sum of the observations with these labels. */
  get(labels: Labels = {}): { count: number; sum: number } {
    const state = this.#series.peek(labels);
    return { count: state?.count ?? 0, sum: state?.sum ?? 0 };
  }

  samples(): Sample[] {
    const samples: Sample[] = [];
    for (const [labels, state] of this.#series.entries()) {
      let cumulative = 0;
      this.buckets.forEach((upper, i) => {
        cumulative += state.counts[i] ?? 0;
        samples.push({
          suffix: "_bucket",
          labels: [...labels, ["le", formatValue(upper)]],
          value: cumulative,
        });
      });
      samples.push({ suffix: "_bucket", labels: [...labels, ["le", "+Inf"]], value: state.count });
      samples.push({ suffix: "_sum", labels, value: state.sum });
      samples.push({ suffix: "_count", labels, value: state.count });
    }
    return samples;
  }
}

export class Metrics {
  readonly #collectors = new Map<string, Collector>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#register(name, "counter", labelNames, () => new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#register(name, "gauge", labelNames, () => new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ): Histogram {
    return this.#register(
      name,
      "histogram",
      labelNames,
      () => new Histogram(name, help, labelNames, buckets),
    );
  }

  #register<C extends Collector>(
    name: string,
    type: MetricType,
    labelNames: readonly string[],
    create: () => C,
  ): C {
    const existing = this.#collectors.get(name);
    if (existing) {
      if (existing.type !== type || existing.labelNames.join(",") !== labelNames.join(",")) {
        throw new Error(
          `metric ${name} is already registered as a ${existing.type} {${existing.labelNames}}`,
        );
      }
      return existing as C;
    }
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new Error(`metric ${name}: invalid label name ${JSON.stringify(label)}`);
      }
    }
    const collector = create();
    this.#collectors.set(name, collector);
    return collector;
  }

  /** Every metric in the Prometheus text format, version 0.0.4. */
  expose(): string {
    const lines: string[] = [];
    for (const c of this.#collectors.values()) {
      lines.push(`# HELP ${c.name} ${c.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${c.name} ${c.type}`);
      for (const s of c.samples()) {
        const labels = s.labels.map(([n, v]) => `${n}="${escapeLabelValue(v)}"`).join(",");
        lines.push(`${c.name}${s.suffix}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
      }
    }
    return lines.length ? `${lines.join("\n")}\n` : "";
  }
}

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
