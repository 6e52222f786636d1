/**
 * How every benchmark reports: a table on stdout, and one dated row per run appended to
 * bench/RESULTS.md under the benchmark's own heading, with the exact command and the machine.
 */
import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { fileURLToPath } from "node:url";

export const RESULTS_FILE = fileURLToPath(new URL("../RESULTS.md", import.meta.url));

export type Cell = string | number;

/** A Markdown table, columns padded so it reads in a terminal too. */
export function table(header: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}

export function machine(): string {
  return `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? "unknown"}), Node ${process.version}`;
}

/**
 * Appends a run to RESULTS.md: under `## <benchmark>`, a `### <date>` entry with the command, the
 * machine, the table and any notes. The file keeps every run; the newest is last in its section.
 */
export async function recordResult(
  benchmark: string,
  command: string,
  body: string,
  date = new Date(),
): Promise<void> {
  const existing = await readFile(RESULTS_FILE, "utf8").catch(() => "# Benchmark results\n");
  const entry = [
    `### ${date.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `\`${command}\` on ${machine()}`,
    "",
    body.trim(),
    "",
  ].join("\n");
  const heading = `## ${benchmark}`;
  const at = existing.indexOf(`\n${heading}\n`);
  let next: string;
  if (at < 0) next = `${existing.trimEnd()}\n\n${heading}\n\n${entry}`;
  else {
    const after = existing.indexOf("\n## ", at + heading.length + 1);
    const end = after < 0 ? existing.length : after;
    next = `${existing.slice(0, end).trimEnd()}\n\n${entry}${existing.slice(end)}`;
  }
  await writeFile(RESULTS_FILE, `${next.trimEnd()}\n`);
}

/** p-th percentile (0–100) of a list of numbers, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
