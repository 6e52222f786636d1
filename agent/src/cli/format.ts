/**
 * How the CLI prints things: kubectl-style tables and ages, so that `ferry status` reads like the
 * `kubectl get` output next to it. Pure functions; the clock is always passed in.
 */

/** What a table shows for a value the object does not have (kubectl prints `<none>`; we keep it short). */
export const NONE = "-";

/**
 * Columns padded to the widest cell and separated by three spaces, upper-case headers, no trailing
 * blanks: the layout of `kubectl get`.
 */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

/** Label: value lines with the values aligned (the head of `kubectl describe`). */
export function fields(pairs: [string, string][], indent = ""): string {
  const width = Math.max(...pairs.map(([label]) => label.length + 1));
  return pairs
    .map(([label, value]) => `${indent}${`${label}:`.padEnd(width)}  ${value}`.trimEnd())
    .join("\n");
}

/** kubectl's duration.HumanDuration: "45s", "3m20s", "45m", "3h5m", "30h", "3d4h", "120d", "2y3d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function millis(timestamp: string | undefined): number | undefined {
  if (!timestamp) return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

/** How long ago `timestamp` was, or NONE. */
export function age(timestamp: string | undefined, now: Date): string {
  const ms = millis(timestamp);
  return ms === undefined ? NONE : humanDuration(now.getTime() - ms);
}

/** Seconds between two timestamps (or from one to now), for machine output. */
export function secondsBetween(from: string | undefined, to: string | Date | undefined): number | undefined {
  const start = millis(from);
  const end = to instanceof Date ? to.getTime() : millis(to);
  if (start === undefined || end === undefined) return undefined;
  return Math.max(0, Math.round((end - start) / 1000));
}

/** From start to end, or "running for" until now when there is no end yet. */
export function elapsed(start: string | undefined, end: string | undefined, now: Date): string {
  const seconds = secondsBetween(start, end ?? now);
  return seconds === undefined ? NONE : humanDuration(seconds * 1000);
}

/**
 * RFC 3339 in UTC to the second, whatever precision it was stored with (Events carry
 * microseconds), so that columns of times line up.
 */
export function stamp(timestamp: string | undefined): string {
  const ms = millis(timestamp);
  return ms === undefined ? (timestamp ?? NONE) : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

/** A timestamp with how long ago it was: `2025-01-02T03:04:05Z (5m ago)`. */
export function when(timestamp: string | undefined, now: Date): string {
  if (!timestamp) return NONE;
  return `${stamp(timestamp)} (${age(timestamp, now)} ago)`;
}

/** Short counts for tables: 999, 12.3k, 4.57M, 1.2G. */
export function compact(n: number | undefined): string {
  if (n === undefined) return NONE;
  const units = ["", "k", "M", "G", "T", "P"];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return String(Math.round(value));
  const digits = Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
  return `${Number(value.toFixed(digits))}${units[unit]}`;
}

/** Exact counts for describe: 1,234,567. */
export function exact(n: number | undefined): string {
  return n === undefined ? NONE : n.toLocaleString("en-US");
}

/** Binary sizes: 512 B, 1.5 KiB, 120 MiB. */
export function bytes(n: number | undefined): string {
  if (n === undefined) return NONE;
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${Number(value.toFixed(Math.abs(value) < 10 ? 1 : 0))} ${units[unit]}`;
}

/** "3/8", or NONE when neither is known. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined && b === undefined) return NONE;
  return `${a ?? NONE}/${b ?? NONE}`;
}

export function orNone(value: string | number | undefined | null): string {
  return value === undefined || value === null || value === "" ? NONE : String(value);
}

/** JSON for `-o json`: two-space indented, one trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
