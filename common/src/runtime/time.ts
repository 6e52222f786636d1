/**
 * The two timestamp formats of the API. They differ in precision, and a value written with more
 * precision than the server keeps reads back different, which would make "skip the write when
 * nothing changed" write every time.
 */

/** metav1.Time (conditions, creationTimestamp): RFC 3339, whole seconds. */
export function metaTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** metav1.MicroTime (Lease renewTime, Event eventTime): the server insists on six fraction digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
