/**
 * Every failure the data plane reports is a DataPlaneError: a CamelCase reason for conditions and
 * attempt history, a message a user can act on, and whether retrying can help. Drivers' own
 * messages are never passed through unfiltered: they can quote connection strings, SAS URLs or
 * passwords, so messages are built here and scrubbed of every credential value we know.
 */
import type { Credentials } from "./types.ts";

export class DataPlaneError extends Error {
  readonly reason: string;
  /** True when the same attempt may succeed later (network blip, server restart, lock conflict). */
  readonly transient: boolean;
  override readonly name = "DataPlaneError";

  constructor(reason: string, message: string, transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.transient = transient;
  }
}

export const permanent = (reason: string, message: string, cause?: unknown) =>
  new DataPlaneError(reason, message, false, { cause });
export const transient = (reason: string, message: string, cause?: unknown) =>
  new DataPlaneError(reason, message, true, { cause });

/** The job was cancelled or its attempt fenced off: not a failure of the copy itself. */
export class CancelledError extends DataPlaneError {
  constructor(message = "the copy was cancelled") {
    super("Cancelled", message, false);
  }
}

/**
 * onPartitionCommitted's refusal: the job is no longer this attempt's, so the checkpoint write was
 * not made (a refusal, not a write whose answer was lost). The part it named is referenced by no
 * checkpoint and no manifest, and the attempt deletes it.
 */
export class AttemptLostError extends Error {
  override readonly name = "AttemptLostError";
}

/** Where an error happened, for the message: "PostgreSQL server db.example.com:5432". */
export interface ErrorContext {
  what: string;
  credentials?: Credentials | undefined;
}

const SECRET_PARAMS = /([?&;](?:sig|se|sp|sv|st|skoid|sktid|skt|ske|sks|skv)=)[^&;\s"']+/gi;
const ACCOUNT_KEY = /(AccountKey=)[^;\s"']+/gi;
const PASSWORDS = /((?:password|pwd)\s*[=:]\s*)[^;\s"']+/gi;
const URL_USERINFO = /(\w+:\/\/)[^/@\s:]+:[^/@\s]+@/g;

/** Removes credential values and anything shaped like one from a text meant for users. */
export function redact(text: string, credentials?: Credentials): string {
  let out = text;
  const secrets = credentials
    ? [credentials.password, credentials.accountKey, credentials.sasToken, credentials.connectionString]
    : [];
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join("***");
  }
  return out
    .replace(SECRET_PARAMS, "$1***")
    .replace(ACCOUNT_KEY, "$1***")
    .replace(PASSWORDS, "$1***")
    .replace(URL_USERINFO, "$1***@");
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown; cause?: unknown } | undefined;
  if (typeof e?.code === "string") return e.code;
  const cause = e?.cause as { code?: unknown } | undefined;
  if (typeof cause?.code === "string") return cause.code;
  return undefined;
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_NOT_YET_VALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
]);

/**
 * Network-level failures common to every driver: DNS, refused, unreachable, resets, timeouts and
 * TLS. Returns undefined for anything else, so each connector can classify its own server errors.
 */
export function classifyNetworkError(err: unknown, context: ErrorContext): DataPlaneError | undefined {
  const code = errorCode(err);
  const raw = redact(String((err as Error)?.message ?? err), context.credentials);
  const where = context.what;
  switch (code) {
    case "ENOTFOUND":
      return permanent("DnsFailure", `${where}: the host name does not resolve; check the host`, err);
    case "EAI_AGAIN":
      return transient("DnsFailure", `${where}: DNS lookup timed out; check the node's DNS`, err);
    case "ECONNREFUSED":
      return transient(
        "ConnectionRefused",
        `${where}: connection refused; check the host and port, and that the server is running`,
        err,
      );
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return transient("HostUnreachable", `${where}: no route to the host; check network and firewall`, err);
    case "ETIMEDOUT":
    case "ESOCKETTIMEDOUT":
    case "ETIMEOUT":
      return transient(
        "ConnectionTimeout",
        `${where}: timed out connecting; check the host, port and firewall`,
        err,
      );
    case "ECONNRESET":
    case "EPIPE":
    case "ECONNABORTED":
    case "PROTOCOL_CONNECTION_LOST":
      return transient("ConnectionLost", `${where}: the connection was lost (${code})`, err);
  }
  if (code && (TLS_CODES.has(code) || code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL"))) {
    return permanent(
      "TlsError",
      `${where}: TLS failed (${code}); check tlsMode and the server certificate`,
      err,
    );
  }
  if (
    /self[- ]signed certificate|certificate|does not support SSL|SSL|TLS/i.test(raw) &&
    !/password/i.test(raw)
  ) {
    return permanent("TlsError", `${where}: TLS failed: ${raw}`, err);
  }
  if (/timeout|timed out/i.test(raw)) {
    return transient("ConnectionTimeout", `${where}: timed out: ${raw}`, err);
  }
  return undefined;
}

/** The final fallback: unknown errors are transient (a retry is cheap, committed work is kept). */
export function unknownError(err: unknown, context: ErrorContext): DataPlaneError {
  if (err instanceof DataPlaneError) return err;
  const raw = redact(String((err as Error)?.message ?? err), context.credentials);
  return transient("Unexpected", `${context.what}: ${raw}`, err);
}

export function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === "AbortError" || e?.code === "ABORT_ERR" || err instanceof CancelledError;
}
