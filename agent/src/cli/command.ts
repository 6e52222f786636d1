/**
 * What every command shares: the Io it prints through (so the clock and streams are injected), the
 * common options (--kubeconfig, -n/--namespace, -h/--help) parsed with node:util parseArgs, and the
 * connection to the cluster with the namespace kubectl would use.
 *
 * The Kubernetes client is imported when a command connects, not before: it takes half a second
 * to load, which --help and usage errors should not pay. For the same reason nothing here loads
 * @ferry/crds at run time (only its types).
 */
import { type ParseArgsOptionDescriptor, parseArgs } from "node:util";
import type { Kube, KubeObject } from "@ferry/common/kube";
import type { FerryKind, FerryObjects, LogicalGateway } from "@ferry/crds";
import { CliError, UsageError } from "./errors.ts";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** All of standard input, as text. */
  readStdin(): Promise<string>;
  /** A terminal on stdin: nothing is piped, and reading would wait for the user to type. */
  stdinIsTTY: boolean;
  now(): Date;
}

export interface Cluster {
  kube: Kube;
  namespace: string;
  server: string;
}

/** Ferry's apiVersion; typed from the generated API, so a new version fails to compile here. */
export const FERRY_API: LogicalGateway["apiVersion"] = "ferry.dev/v1alpha1";

/** What a command runs with. `connect` remembers the cluster, to explain errors. */
export interface Session {
  io: Io;
  connect(options: CommonValues): Promise<Cluster>;
  cluster?: Cluster;
}

export interface Command {
  name: string;
  /** One line for `ferry --help`. */
  summary: string;
  /** The full `ferry <command> --help` text. */
  help: string;
  run(args: string[], session: Session): Promise<number>;
}

export interface CommonValues {
  kubeconfig?: string | undefined;
  namespace?: string | undefined;
}

export const COMMON_OPTIONS = {
  kubeconfig: { type: "string" },
  namespace: { type: "string", short: "n" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, ParseArgsOptionDescriptor>;

export const COMMON_HELP = `Common options:
  --kubeconfig <path>    kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  -n, --namespace <ns>   namespace (default: the kubeconfig context's namespace, else "default")
  -h, --help             this help

Exit codes: 0 done, 1 failed (cluster error, object missing or not ready), 2 usage error.`;

/** parseArgs's messages, without its advice about "--" that does not apply here. */
function usageMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /^Option '(-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `option ${missing[2]} needs a value`;
  const ambiguous = /^Option '(-\w, )?(--[\w-]+) <value>' argument is ambiguous/.exec(message);
  if (ambiguous)
    return `option ${ambiguous[2]} needs a value (to pass one that starts with "-", write ${ambiguous[2]}=<value>)`;
  const flag = /^Option '(-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
  if (flag) return `option ${flag[2]} takes no value`;
  return message.split(". ")[0] ?? message;
}

/**
 * The command's options plus the common ones. Positionals are returned for the command to check
 * (encrypt must not echo one: it may be a credential typed without --from-literal).
 */
export function parseCommand<const O extends Record<string, ParseArgsOptionDescriptor>>(
  args: string[],
  options: O,
) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(usageMessage(err));
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Object names are checked before any request, so a typo is a usage error and not a 404. */
export function checkName(what: string, name: string, label = false): string {
  if (!(label ? DNS_LABEL : DNS_SUBDOMAIN).test(name)) {
    throw new UsageError(
      `${what} ${JSON.stringify(name)} is not a valid name (lower-case letters, digits and "-"${label ? ", at most 63" : ""})`,
    );
  }
  return name;
}

export function required(value: string | undefined, option: string): string {
  if (value === undefined || value === "") throw new UsageError(`${option} is required`);
  return value;
}

/** The client and namespace, as kubectl would pick them. */
export async function openCluster(options: CommonValues): Promise<Cluster> {
  const namespace = options.namespace;
  if (namespace !== undefined) checkName("namespace", namespace, true);
  const { connectWith, kubeconfigAccess } = await import("@ferry/common/kube");
  let access: ReturnType<typeof kubeconfigAccess>;
  try {
    access = kubeconfigAccess(options.kubeconfig);
  } catch (err) {
    const reason = (err as { code?: string }).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new CliError(`cannot read kubeconfig ${options.kubeconfig ?? "(default)"}: ${reason}`);
  }
  const kube: Kube = connectWith(access);
  const contextNamespace = access.namespace;
  return { kube, namespace: namespace ?? (contextNamespace || "default"), server: kube.server };
}

export function helpRequested(values: { help?: boolean | undefined }, command: Command, io: Io): boolean {
  if (!values.help) return false;
  io.out(`${command.help}\n\n${COMMON_HELP}\n`);
  return true;
}

/**
 * A Ferry object that must exist. The client reads "no such object" and "no such kind" (the CRDs
 * are not installed) both as absent; a list that matches nothing tells them apart, so the user
 * is not told to look for a gateway when the cluster has no Ferry at all.
 */
export async function getRequired<K extends FerryKind>(
  kube: Kube,
  kind: K,
  namespace: string,
  name: string,
): Promise<FerryObjects[K]> {
  const found = await kube.get<FerryObjects[K] & KubeObject>({
    apiVersion: FERRY_API,
    kind,
    namespace,
    name,
  });
  if (found) return found;
  await kube.list(FERRY_API, kind, namespace, { labelSelector: "ferry.dev/no-such-label=probe" });
  throw new CliError(`${kind} "${name}" not found in namespace "${namespace}"`);
}
