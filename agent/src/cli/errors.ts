/**
 * The CLI's failures and its exit codes. Every failure ends as one line on stderr, never a stack
 * trace: the user reads what went wrong and what to do, a script reads the exit code.
 *
 *   0  done
 *   1  failed: the cluster refused or could not be reached, or an object is missing or not ready
 *   2  usage: a wrong command, option, name or credential input; nothing was written
 */
import type { Kube, KubeError } from "@ferry/common/kube";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure whose message is already what the user should read. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = EXIT_FAILURE) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A mistake in the command line or the input: exit code 2, with a pointer to the help. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}

/**
 * Errors of @ferry/common are recognised by name, not instanceof, so that this module does not
 * load the Kubernetes client (see command.ts).
 */
function named(err: unknown, ...names: string[]): err is Error {
  return err instanceof Error && names.includes(err.name);
}

function isKubeError(err: unknown): err is KubeError {
  return named(err, "KubeError") && typeof (err as { code?: unknown }).code === "number";
}

/** Node's codes for "could not talk to the server at all" (socket and TLS failures). */
function isTransportError(err: unknown): err is Error {
  if (!(err instanceof Error) || isKubeError(err)) return false;
  const code = (err as Error & { code?: unknown }).code;
  return (
    typeof code === "string" &&
    /^(E[A-Z]+$|ERR_TLS_|ERR_SSL|CERT_|UNABLE_|DEPTH_|SELF_SIGNED|HOSTNAME_)/.test(code)
  );
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * The line a user reads for any error. `server` names the API server in transport failures, which
 * otherwise say only "connect ECONNREFUSED 127.0.0.1:6443".
 */
export function explain(err: unknown, server?: string): string {
  const at = server ? ` at ${server}` : "";
  if (err instanceof CliError) return oneLine(err.message);
  if (isKubeError(err)) {
    if (isMissingApi(err)) return missingApi(at);
    if (err.code === 401) {
      return `the API server${at} did not accept the kubeconfig's credentials (401 Unauthorized)`;
    }
    // The server's message already says who may not do what ("... is forbidden: User ...").
    if (err.code === 403) return oneLine(err.message);
    return `the API server${at} refused the request (${err.code} ${err.reason}): ${oneLine(err.message)}`;
  }
  if (named(err, "SealError", "RegistrationKeyError")) return oneLine(err.message);
  if (isTransportError(err)) return `cannot reach the API server${at}: ${oneLine(err.message)}`;
  if (err instanceof Error) return oneLine(err.message);
  return oneLine(String(err));
}

/** The client's "this server has no such kind": its discovery of the API group found nothing. */
export function isMissingApi(err: unknown): boolean {
  return isKubeError(err) && err.code === 404 && err.message.startsWith("the server has no resource");
}

function missingApi(at: string): string {
  return `the cluster${at} does not serve Ferry's API (the ferry.dev CRDs are not installed): install the Ferry Helm chart first`;
}

/**
 * The client reports a failed discovery (server down, wrong address, TLS or credentials refused)
 * the same way as an API group the server lacks. Asking for a kind every server has tells the two
 * apart: when even core v1 is "missing", the server was not reached.
 */
export async function explainMissingApi(kube: Kube, server: string): Promise<string> {
  try {
    // get() reads every 404 as "absent"; a list that matches nothing throws it.
    await kube.list("v1", "Namespace", undefined, { labelSelector: "ferry.dev/no-such-label=probe" });
  } catch (err) {
    if (isMissingApi(err)) {
      return (
        `cannot reach the API server at ${server}: no API could be discovered ` +
        "(check the server address, its certificate and the kubeconfig's credentials)"
      );
    }
  }
  return missingApi(` at ${server}`);
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT_FAILURE;
}
