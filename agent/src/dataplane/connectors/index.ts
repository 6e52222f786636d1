/**
 * DataStore type → connector. A new store is its connector file, its tests, and one line here.
 *
 * Connectors load on first use: each pulls in its driver (mssql, mysql2, pg, the Azure SDK: tens
 * of MiB each), and an agent that copies PostgreSQL to Blob has no use for the others.
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
