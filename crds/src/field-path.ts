/**
 * Turns a JSON pointer into the field path the API server prints: `spec.env[1].name`. Whether a
 * segment is an index is read from the data itself, since "0" is also a valid map key.
 */
export function fieldPath(pointer: string, root: unknown): string {
  let path = "";
  let node: unknown = root;
  for (const encoded of pointer.split("/").slice(1)) {
    const segment = encoded.replaceAll("~1", "/").replaceAll("~0", "~");
    path += Array.isArray(node) ? `[${segment}]` : path === "" ? segment : `.${segment}`;
    node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[segment] : undefined;
  }
  return path;
}

/** A rule's `fieldPath` (".nodes.min") as JSON pointer segments appended to `pointer`. */
export function appendFieldPath(pointer: string, relative: string | undefined): string {
  if (!relative) return pointer;
  const segments = relative.replace(/^\./, "").split(".");
  return `${pointer}/${segments.map((s) => s.replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`;
}
