/**
 * What a copy test reads from and writes to, on the real services: a PostgreSQL database of its
 * own with a login role of its own (so credentials in a DataStore are the test's, not the
 * superuser's), and an empty Blob container.
 */
import { randomBytes } from "node:crypto";
import type { AzuriteServer, PostgresServer } from "../services/index.ts";

export interface SourceDatabase {
  database: string;
  role: string;
  password: string;
}

/** A new database and login role; `setup(role)` is SQL run in the database (tables, grants to the role). */
export async function sourceDatabase(
  pg: PostgresServer,
  setup: (role: string) => string,
): Promise<SourceDatabase> {
  const database = `db_${randomBytes(4).toString("hex")}`;
  const role = `r_${randomBytes(4).toString("hex")}`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  await pg.psql(`CREATE DATABASE ${database}`);
  await pg.psql(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  await pg.psql(setup(role), database);
  return { database, role, password };
}

/** A new, empty container on Azurite; its name. */
export async function blobContainer(azurite: AzuriteServer): Promise<string> {
  const container = `c${randomBytes(4).toString("hex")}`;
  const { BlobServiceClient } = await import("@azure/storage-blob");
  await BlobServiceClient.fromConnectionString(azurite.connectionString)
    .getContainerClient(container)
    .create();
  return container;
}
