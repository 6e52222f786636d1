/**
 * Credentials: the gateway's private key, and a DataStore resolved to what the data plane needs
 * (type, connection, decrypted credentials). Decrypted values stay in memory, in the returned
 * object only; they are never put into a message (errors name the Secret, key or reason, not the
 * value) and the logger censors credential fields anyway.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Kube, openCredentials, SealError, type Secret } from "@ferry/common";
import type { DataStore } from "@ferry/crds";
import type { Credentials, StoreConfig } from "./dataplane/index.ts";
import { credentialKeySecretName, dataStoreRef } from "./names.ts";

/** A reason (CamelCase) and a message safe to show: becomes a job's Failed reason. */
export class CredentialError extends Error {
  override readonly name = "CredentialError";
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

const FIELDS = ["username", "password", "connectionString", "accountKey", "sasToken"] as const;

export interface KeySource {
  kube: Kube;
  namespace: string;
  gateway: string;
  /** In a pod: the mounted credential key Secret. */
  dir?: string;
}

/** The gateway's private key PEM, or undefined when there is none (yet). */
export async function loadPrivateKey(source: KeySource): Promise<string | undefined> {
  if (source.dir) {
    const text = await readFile(join(source.dir, "private.key"), "utf8").catch(() => undefined);
    return text?.trim() ? text : undefined;
  }
  const secret = await source.kube.get<Secret>({
    apiVersion: "v1",
    kind: "Secret",
    namespace: source.namespace,
    name: credentialKeySecretName(source.gateway),
  });
  const data = secret?.data?.["private.key"];
  return data ? Buffer.from(data, "base64").toString("utf8") : undefined;
}

/** Credentials from a Secret's data, keys mapped per the DataStore's secretRef.keys. */
export function credentialsFromSecret(
  secret: Secret,
  keys: Partial<Record<(typeof FIELDS)[number], string>> | undefined,
): Credentials {
  const out: Credentials = {};
  for (const field of FIELDS) {
    const value = secret.data?.[keys?.[field] ?? field];
    if (value !== undefined) out[field] = Buffer.from(value, "base64").toString("utf8");
  }
  return out;
}

export function credentialsFromSealed(privateKey: string | undefined, sealed: string): Credentials {
  if (!privateKey) {
    throw new CredentialError(
      "CredentialKeyNotLoaded",
      "the credentials are encrypted but this node has not loaded the gateway's credential key",
    );
  }
  let opened: Record<string, string>;
  try {
    opened = openCredentials(privateKey, sealed);
  } catch (err) {
    if (err instanceof SealError) {
      throw new CredentialError(
        `Credentials${err.reason}`,
        `the encrypted credentials cannot be opened: ${err.message}`,
      );
    }
    throw err;
  }
  const out: Credentials = {};
  for (const field of FIELDS) if (typeof opened[field] === "string") out[field] = opened[field];
  return out;
}

export class CredentialResolver {
  readonly #kube: Kube;
  readonly #namespace: string;
  readonly #privateKey: () => string | undefined;

  constructor(kube: Kube, namespace: string, privateKey: () => string | undefined) {
    this.#kube = kube;
    this.#namespace = namespace;
    this.#privateKey = privateKey;
  }

  /**
   * The DataStore named `name`, checked to belong to `gateway`, as a StoreConfig. `known` is a
   * watched copy when the caller has one (the worker's informer, which saves two reads per job);
   * without it (a store created a moment ago, not yet delivered) it is read from the API server.
   */
  async store(name: string, gateway: string, known?: DataStore): Promise<StoreConfig> {
    const ds = known ?? (await this.#kube.get<DataStore>(dataStoreRef(this.#namespace, name)));
    if (!ds) throw new CredentialError("DataStoreNotFound", `DataStore ${name} does not exist`);
    if (ds.spec.gatewayRef.name !== gateway) {
      throw new CredentialError(
        "DataStoreNotFound",
        `DataStore ${name} belongs to gateway ${ds.spec.gatewayRef.name}, not ${gateway}`,
      );
    }
    return this.resolve(ds);
  }

  async resolve(ds: DataStore): Promise<StoreConfig> {
    const base = { type: ds.spec.type, connection: ds.spec.connection };
    const creds = ds.spec.credentials;
    if (creds?.encrypted)
      return { ...base, credentials: credentialsFromSealed(this.#privateKey(), creds.encrypted) };
    if (creds?.secretRef) {
      let secret: Secret | undefined;
      try {
        secret = await this.#kube.get<Secret>({
          apiVersion: "v1",
          kind: "Secret",
          namespace: this.#namespace,
          name: creds.secretRef.name,
        });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 403) {
          throw new CredentialError(
            "SecretForbidden",
            `this node may not read Secret ${creds.secretRef.name} (the operator grants access to Secrets DataStores reference)`,
          );
        }
        throw err;
      }
      if (!secret)
        throw new CredentialError(
          "SecretNotFound",
          `Secret ${creds.secretRef.name} of DataStore ${ds.metadata.name} does not exist`,
        );
      return { ...base, credentials: credentialsFromSecret(secret, creds.secretRef.keys) };
    }
    return base;
  }
}
