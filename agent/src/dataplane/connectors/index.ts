/**
 * DataStore type → connector. A new store is its connector file, its tests, and one line here.
 */
import { permanent } from "../errors.ts";
import type { Connector, DataStoreType } from "../types.ts";
import { azureBlobConnector } from "./azure-blob.ts";
import { fileShareConnector } from "./file-share.ts";
import { mysqlConnector } from "./mysql.ts";
import { postgresConnector } from "./postgres.ts";
import { sqlServerConnector } from "./sqlserver.ts";

const connectors: Record<DataStoreType, Connector> = {
  PostgreSQL: postgresConnector,
  MySQL: mysqlConnector,
  SqlServer: sqlServerConnector,
  AzureBlob: azureBlobConnector,
  FileShare: fileShareConnector,
};

export function connectorFor(type: DataStoreType): Connector {
  const c = connectors[type];
  if (!c) throw permanent("UnsupportedStoreType", `data store type ${type} is not supported by this agent`);
  return c;
}
