import type { CopyJobSpec, CopySink, CopySource } from "./generated/types.ts";

/**
 * A CopyJob runs one activity: a copy (source and sink) or a stored procedure (storedProcedure);
 * the schema's CEL rules make them exclusive. Code that copies takes this narrower type.
 */
export type CopyActivitySpec = CopyJobSpec & { source: CopySource; sink: CopySink };

export function isCopyActivity(spec: CopyJobSpec): spec is CopyActivitySpec {
  return spec.source !== undefined && spec.sink !== undefined && spec.storedProcedure === undefined;
}
