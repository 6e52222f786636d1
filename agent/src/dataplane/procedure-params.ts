/**
 * What every SQL connector's stored procedure call shares: validating names (they are quoted, never
 * interpolated raw), parameter values as text, and the retry rule — a procedure is not assumed to be
 * idempotent, so once the call reached the server a failure is reported as permanent unless the
 * server rolled it back for a conflict (deadlock, serialization) and said so.
 */
import { DataPlaneError, permanent } from "./errors.ts";
import type { ProcedureCall, ProcedureParameter } from "./types.ts";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$@#]*$/;

/** The procedure's name parts (schema and name, or database, schema and name on SQL Server). */
export function validateCall(call: ProcedureCall): string[] {
  const parts = call.procedure.split(".");
  if (parts.length > 3 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw permanent(
      "InvalidProcedure",
      `procedure ${JSON.stringify(call.procedure)} is not a plain, optionally qualified name`,
    );
  }
  const seen = new Set<string>();
  for (const p of call.parameters ?? []) {
    if (!IDENTIFIER.test(p.name))
      throw permanent("InvalidParameter", `parameter name ${JSON.stringify(p.name)} is not a plain name`);
    if (seen.has(p.name)) throw permanent("InvalidParameter", `parameter ${p.name} is given twice`);
    seen.add(p.name);
  }
  return parts;
}

/** A parameter's value as text, or null; checked against its type. */
export function parameterText(p: ProcedureParameter): string | null {
  const v = p.value;
  if (v === null || v === undefined) return null;
  const text = typeof v === "string" ? v : String(v);
  const bad = (what: string) =>
    permanent(
      "InvalidParameter",
      `parameter ${p.name} (${p.type}) must be ${what}, got ${JSON.stringify(text).slice(0, 60)}`,
    );
  switch (p.type) {
    case "Int":
    case "BigInt":
      if (!/^-?\d+$/.test(text)) throw bad("an integer");
      break;
    case "Decimal":
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw bad("a decimal number");
      break;
    case "Float":
      if (Number.isNaN(Number(text)) && text !== "NaN") throw bad("a number");
      break;
    case "Boolean":
      if (!/^(true|false)$/.test(text)) throw bad("true or false");
      break;
    case "Date":
      if (!/^\d{4}-\d\d-\d\d$/.test(text)) throw bad("a date YYYY-MM-DD");
      break;
    case "Binary":
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw bad("base64");
      break;
    case "Json":
      try {
        JSON.parse(text);
      } catch {
        throw bad("JSON");
      }
  }
  return text;
}

/** Once the call was sent, only a conflict the server rolled back is worth retrying. */
export function afterCall(err: DataPlaneError, sent: boolean): DataPlaneError {
  if (!sent || err.reason === "ConflictRetry") return err;
  // An error the procedure raised itself (or one we have no better name for) is the procedure's.
  const reason = ["Unexpected", "QueryFailed", "DataError"].includes(err.reason)
    ? "ProcedureFailed"
    : err.reason;
  if (!err.transient && reason === err.reason) return err;
  const note = err.transient ? " (the procedure may have run: not retried automatically)" : "";
  return new DataPlaneError(reason, `${err.message}${note}`, false, { cause: err });
}
