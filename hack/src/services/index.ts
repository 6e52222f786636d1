/**
 * Real servers for the data plane's tests, each a process on a free loopback port with its files
 * in a temporary folder: start one per test file (before/after hooks), give each test its own
 * database or container.
 */
export {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  type AzuriteOptions,
  type AzuriteServer,
  startAzurite,
} from "./azurite.ts";
export { type MariaDbOptions, type MariaDbServer, startMariaDb } from "./mariadb.ts";
export { type PostgresOptions, type PostgresServer, startPostgres } from "./postgres.ts";
export { reapOrphanServices } from "./service.ts";
