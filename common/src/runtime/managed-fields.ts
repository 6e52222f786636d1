/**
 * "Would this server-side apply change anything?", answered from the object already read, so an
 * unchanged status or object costs no request at all.
 *
 * An apply as manager M sets the fields it sends and removes the fields M owned before but no
 * longer sends. So it is a no-op exactly when (1) every field sent equals the stored one, and (2)
 * every field M owns (its `managedFields` entry, in the fieldsV1 format) is still sent. Lists with
 * merge keys (conditions, keyed by `type`) are compared element by element: other managers' entries
 * in the same list are none of M's business. Other lists are compared whole. When unsure (M never
 * applied this subresource) the answer is "changed": one needless write beats a missed one.
 */

/** The fieldsV1 format: `f:<field>`, `k:<merge key JSON>`, `v:<value JSON>`, `i:<index>`, `.`. */
export interface FieldsV1 {
  [path: string]: FieldsV1;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
}

type Json = unknown;

/**
 * True when applying `desired` as the status of `stored` (whose `metadata.managedFields` is given)
 * by `fieldManager` would leave the status as it is. (A field sent with the value another manager
 * stored counts as unchanged: the values are what readers see.)
 */
export function statusApplyIsNoop(
  stored: { metadata: { managedFields?: ManagedFieldsEntry[] }; status?: object },
  fieldManager: string,
  desired: object,
): boolean {
  const owned = appliedFields(stored, fieldManager, "status")?.["f:status"];
  if (!owned) return false;
  return contains(stored.status ?? {}, desired, owned) && covers(owned, desired);
}

/**
 * True when a server-side apply of the whole object `desired` (its main resource, not a
 * subresource) by `fieldManager` would leave `stored` as it is. The object's identity (apiVersion,
 * kind, name, namespace) is not a field anyone owns, so it is left out of the comparison.
 */
export function applyIsNoop(
  stored: { metadata: { managedFields?: ManagedFieldsEntry[] } },
  fieldManager: string,
  desired: { apiVersion?: string; kind?: string; metadata: Record<string, unknown> },
): boolean {
  const owned = appliedFields(stored, fieldManager, undefined);
  if (!owned) return false;
  const { apiVersion: _v, kind: _k, metadata, ...rest } = desired;
  const { name: _n, namespace: _ns, resourceVersion: _rv, ...meta } = metadata;
  const fields = Object.keys(meta).length > 0 ? { ...rest, metadata: meta } : rest;
  return contains(stored, fields, owned) && covers(owned, fields);
}

function appliedFields(
  stored: { metadata: { managedFields?: ManagedFieldsEntry[] } },
  fieldManager: string,
  subresource: string | undefined,
): FieldsV1 | undefined {
  return stored.metadata.managedFields?.find(
    (m) =>
      m.manager === fieldManager && m.operation === "Apply" && (m.subresource ?? "") === (subresource ?? ""),
  )?.fieldsV1;
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    const other = Object.keys(b).filter((k) => b[k] !== undefined);
    return keys.length === other.length && keys.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** The merge keys of a list element, from `k:{"type":"Ready"}`. */
function mergeKeys(owned: FieldsV1 | undefined): Record<string, Json>[] {
  return Object.keys(owned ?? {})
    .filter((k) => k.startsWith("k:"))
    .map((k) => JSON.parse(k.slice(2)) as Record<string, Json>);
}

function matches(element: Json, key: Record<string, Json>): boolean {
  return isObject(element) && Object.entries(key).every(([field, value]) => deepEqual(element[field], value));
}

/** Every field of `desired` is in `stored` with the same value. */
function contains(stored: Json, desired: Json, owned: FieldsV1 | undefined): boolean {
  if (Array.isArray(desired)) {
    const keys = mergeKeys(owned);
    if (keys.length === 0 || !Array.isArray(stored)) return deepEqual(stored, desired);
    // A list with merge keys: each element sent must be one we own, equal to its stored twin.
    return desired.every((element) => {
      const key = keys.find((k) => matches(element, k));
      const twin = key && stored.find((s) => matches(s, key));
      return (
        key !== undefined &&
        twin !== undefined &&
        contains(twin, element, owned?.[`k:${JSON.stringify(key)}`])
      );
    });
  }
  if (isObject(desired)) {
    if (!isObject(stored)) return false;
    return Object.entries(desired).every(
      ([field, value]) => value === undefined || contains(stored[field], value, owned?.[`f:${field}`]),
    );
  }
  return stored === desired;
}

/** Every field in `owned` is still in `desired` (else the apply would remove it). */
function covers(owned: FieldsV1, desired: Json): boolean {
  return Object.entries(owned).every(([path, children]) => {
    if (path === ".") return true;
    const kind = path.slice(0, 2);
    const rest = path.slice(2);
    let value: Json;
    if (kind === "f:") {
      value = isObject(desired) ? desired[rest] : undefined;
    } else if (kind === "k:") {
      const key = JSON.parse(rest) as Record<string, Json>;
      value = Array.isArray(desired) ? desired.find((e) => matches(e, key)) : undefined;
    } else if (kind === "v:") {
      const wanted = JSON.parse(rest) as Json;
      return Array.isArray(desired) && desired.some((e) => deepEqual(e, wanted));
    } else if (kind === "i:") {
      value = Array.isArray(desired) ? desired[Number(rest)] : undefined;
    } else {
      return false;
    }
    if (value === undefined) return false;
    const nested = Object.keys(children).some((k) => k !== ".");
    if (!nested) return true;
    return (isObject(value) || Array.isArray(value)) && covers(children, value);
  });
}
