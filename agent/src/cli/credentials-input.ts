/**
 * Reading the credentials `ferry encrypt` seals, from --from-literal, --from-file or stdin, and
 * checking them against what DataStores use. Every message names fields and line numbers, never a
 * value: the input is plaintext credentials, and an error line may end up in a CI log.
 */
import type { CredentialKeys, DataStoreType } from "@ferry/crds";
import { UsageError } from "./errors.ts";

/** The credential fields of a DataStore: the keys `secretRef.keys` can map (the API's one list). */
export const CREDENTIAL_FIELDS = [
  "username",
  "password",
  "connectionString",
  "accountKey",
  "sasToken",
] as const satisfies readonly (keyof CredentialKeys)[];

export type CredentialField = (typeof CREDENTIAL_FIELDS)[number];

// A field added to CredentialKeys in the schema and not here fails to compile.
type Unlisted = Exclude<keyof CredentialKeys, CredentialField>;
const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFieldListed;

interface FieldRule {
  allowed: CredentialField[];
  /** The connector picks one; giving several would silently ignore some. */
  exactlyOne?: boolean;
  note: string;
}

const DATABASE: FieldRule = {
  allowed: ["username", "password"],
  note: "databases use username and password",
};

/** What each store type reads (see the connectors and crds/src/schema/data-store.ts). */
export const FIELDS_BY_TYPE: Record<DataStoreType, FieldRule> = {
  SqlServer: DATABASE,
  PostgreSQL: DATABASE,
  MySQL: DATABASE,
  AzureBlob: {
    allowed: ["connectionString", "accountKey", "sasToken"],
    exactlyOne: true,
    note: "AzureBlob uses exactly one of connectionString, accountKey or sasToken",
  },
  FileShare: {
    allowed: ["username", "password"],
    note: "FileShare usually needs none (the share is mounted); it may use username and password",
  },
};

export type Credentials = Partial<Record<CredentialField, string>>;

/** A name is shown back only when it looks like a field name, not like a pasted secret. */
function shown(name: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(name) ? JSON.stringify(name) : "(not shown)";
}

function isField(name: string): name is CredentialField {
  return (CREDENTIAL_FIELDS as readonly string[]).includes(name);
}

class Collector {
  readonly values: Credentials = {};

  add(name: string, value: string, where: string): void {
    if (!isField(name)) {
      throw new UsageError(
        `${where}: unknown credential field ${shown(name)}; DataStore credentials use ${CREDENTIAL_FIELDS.join(", ")}`,
      );
    }
    if (this.values[name] !== undefined)
      throw new UsageError(`${where}: credential field "${name}" is given twice`);
    this.values[name] = value;
  }
}

/** `key=value`; the value is kept exactly (spaces and further "=" included). */
function splitPair(text: string): [string, string] | undefined {
  const at = text.indexOf("=");
  if (at <= 0) return undefined;
  return [text.slice(0, at).trim(), text.slice(at + 1)];
}

/**
 * A JSON object of strings, or key=value lines (blank lines and # comments skipped, a trailing CR
 * dropped). JSON.parse's own errors quote the input, so they are replaced.
 */
function parseDocument(text: string, source: string, into: Collector): void {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`${source} starts with "{" but is not valid JSON`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new UsageError(`${source} must be a JSON object of credential fields`);
    }
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value !== "string") {
        throw new UsageError(`${source}: credential field ${shown(name)} must be a string`);
      }
      into.add(name, value, source);
    }
    return;
  }
  const lines = text.split("\n");
  lines.forEach((raw, index) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const pair = splitPair(line);
    if (!pair) {
      throw new UsageError(`${source} line ${index + 1} is not key=value (or give a JSON object)`);
    }
    into.add(pair[0], pair[1], `${source} line ${index + 1}`);
  });
}

export interface CredentialSources {
  literals: string[];
  files: { name: string; text: string }[];
  stdin?: string;
}

export function parseCredentials(sources: CredentialSources): Credentials {
  const into = new Collector();
  sources.literals.forEach((literal, index) => {
    const pair = splitPair(literal);
    if (!pair) throw new UsageError(`--from-literal #${index + 1} is not key=value`);
    into.add(pair[0], pair[1], `--from-literal #${index + 1}`);
  });
  for (const file of sources.files) parseDocument(file.text, file.name, into);
  if (sources.stdin !== undefined) parseDocument(sources.stdin, "stdin", into);
  if (Object.keys(into.values).length === 0) throw new UsageError("no credential fields given");
  return into.values;
}

/** Checks the fields against what a store of `type` reads. */
export function checkFieldsForType(credentials: Credentials, type: DataStoreType, store: string): void {
  const rule = FIELDS_BY_TYPE[type];
  const given = Object.keys(credentials) as CredentialField[];
  const unused = given.filter((field) => !rule.allowed.includes(field));
  if (unused.length > 0) {
    throw new UsageError(
      `DataStore "${store}" is of type ${type}, which does not use ${unused.join(", ")}: ${rule.note}`,
    );
  }
  if (rule.exactlyOne && given.length !== 1) {
    throw new UsageError(`DataStore "${store}" is of type ${type}: ${rule.note}, not ${given.join(" and ")}`);
  }
}
