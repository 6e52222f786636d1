/**
 * The stored procedure activity: run a named procedure with typed parameters on a SQL DataStore
 * through the gateway and return what it produced. PostgreSQL calls procedures with CALL and
 * functions with SELECT * FROM f(...), in named notation; MySQL and MariaDB with CALL and positional
 * arguments (give parameters in declaration order); SQL Server with EXEC and named parameters.
 *
 * A procedure is not assumed to be idempotent: once the call reached the server, a failure is
 * permanent (DataPlaneError.transient false) unless the server rolled it back for a conflict.
 */
import { connectorFor } from "./connectors/index.ts";
import { permanent } from "./errors.ts";
import type { ProcedureCall, ProcedureResult, StoreConfig } from "./types.ts";

export interface RunStoredProcedureOptions {
  store: StoreConfig;
  call: ProcedureCall;
  /** The longest the procedure may run (absent: no limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function runStoredProcedure(options: RunStoredProcedureOptions): Promise<ProcedureResult> {
  const connector = await connectorFor(options.store.type);
  if (!connector.runProcedure) {
    throw permanent(
      "UnsupportedStoreType",
      `stored procedures run on SQL data stores, not ${options.store.type}`,
    );
  }
  return connector.runProcedure(options.store, options.call, {
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
