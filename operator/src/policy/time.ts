/**
 * Time helpers shared by the decision functions. Decisions take the clock as an input (`now`) and
 * read timestamps that come from the API (annotations, Lease and status fields) as RFC 3339
 * strings, so parsing lives here once: a value that does not parse counts as absent rather than as
 * the epoch, which would make every "since" look ancient.
 */

export type Instant = Date | string;

/** The instant as a Date, or undefined when absent or unparseable. */
export function instant(value: Instant | undefined): Date | undefined {
  if (value === undefined || value === "") return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Milliseconds from `from` to `to` (negative when `from` is later). */
export function elapsedMs(from: Date, to: Date): number {
  return to.getTime() - from.getTime();
}

/** A short human duration for messages: "45s", "2m30s", "1h5m", "3d4h". */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  let seconds = Math.round(Math.abs(ms) / 1000);
  if (seconds < 60) return `${sign}${seconds}s`;
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days > 0) return `${sign}${days}d${hours > 0 ? `${hours}h` : ""}`;
  if (hours > 0) return `${sign}${hours}h${minutes > 0 ? `${minutes}m` : ""}`;
  return `${sign}${minutes}m${seconds > 0 ? `${seconds}s` : ""}`;
}
