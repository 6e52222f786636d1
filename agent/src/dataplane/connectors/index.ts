/**
 * DataStore type → connector. A new store is its connector file, its tests, and one line here.
 *
 * Connectors load on first use, or when the agent starts for the types its namespace's DataStores
 * name (loadConnectors): each pulls in its driver (mssql, mysql2, pg, the Azure SDK: tens of MiB
 * each), and an agent that copies PostgreSQL to Blob has no use for the others.
 */
import { permanent } from "../errors.ts";
import type { Connector, DataStoreType } from "../types.ts";

const loaders: Record<DataStoreType, () => Promise<Connector>> = {
  PostgreSQL: async () => (await import("./postgres.ts")).postgresConnector,
  MySQL: async () => (await import("./mysql.ts")).mysqlConnector,
  SqlServer: async () => (await import("./sqlserver.ts")).sqlServerConnector,
  AzureBlob: async () => (await import("./azure-blob.ts")).azureBlobConnector,
  FileShare: async () => (await import("./file-share.ts")).fileShareConnector,
};

export async function connectorFor(type: DataStoreType): Promise<Connector> {
  const load = loaders[type];
  if (!load)
    throw permanent("UnsupportedStoreType", `data store type ${type} is not supported by this agent`);
  return load();
}

/**
 * Loads the connectors of these types now, each once (unknown types are skipped), and returns the
 * types loaded. Evaluating a driver's modules blocks the event loop in one go (the Azure SDK and pg
 * together ~0.3 s on a quiet 2-core machine, more on a busy one): the agent does it before it takes
 * jobs, not while a node's first job and its heartbeat are running.
 */
export async function loadConnectors(types: Iterable<string>): Promise<DataStoreType[]> {
  const known = [...new Set(types)].filter((t): t is DataStoreType => Object.hasOwn(loaders, t));
  for (const type of known) await loaders[type]();
  return known;
}
