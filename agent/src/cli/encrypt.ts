/**
 * `ferry encrypt`: seals DataStore credentials to a gateway's public key (the envelope of
 * common/src/seal.ts), so that the DataStore can live in Git and only the gateway's nodes can read
 * them. Nothing but the sealed value is printed; the plaintext never reaches stdout or stderr.
 */
import { readFile } from "node:fs/promises";
import { sealCredentials } from "@ferry/common/seal";
import {
  type Command,
  checkName,
  getRequired,
  helpRequested,
  type Io,
  parseCommand,
  type Session,
} from "./command.ts";
import {
  CREDENTIAL_FIELDS,
  type CredentialSources,
  checkFieldsForType,
  parseCredentials,
} from "./credentials-input.ts";
import { CliError, EXIT_OK, UsageError } from "./errors.ts";

const HELP = `Seal DataStore credentials to a gateway's public key.

Usage:
  ferry encrypt --gateway <name> --from-literal <field>=<value> [--from-literal ...]
  ferry encrypt --gateway <name> --from-file <file>
  ferry encrypt --gateway <name> < credentials        (JSON object or field=value lines on stdin)
  ferry encrypt --datastore <name> [...]               (prints a merge patch for that DataStore)

Reads status.publicKey of the LogicalGateway and prints a "ferry:v1:..." value for
spec.credentials.encrypted of a DataStore. Only the nodes of that gateway can open it, so the
DataStore is safe to commit to Git. Each run gives a different value for the same input.

Credential fields: ${CREDENTIAL_FIELDS.join(", ")}.
  Databases (SqlServer, PostgreSQL, MySQL): username and password.
  AzureBlob: exactly one of connectionString, accountKey or sasToken.
  FileShare: usually none (the share is mounted).

Input, combined when several are given (a field given twice is an error):
  --from-literal <field>=<value>   one field; repeat for more. Note that values on a command line
                                   are visible to other users of the machine and kept in shell
                                   history: prefer a file or stdin for real secrets.
  --from-file <file>               a JSON object of strings, or field=value lines (# comments and
                                   blank lines skipped; the value is kept exactly, spaces included);
                                   "-" reads stdin
  stdin                            read when neither option is given and stdin is not a terminal

Options:
  --gateway <name>      the LogicalGateway whose nodes will open the credentials
  --datastore <name>    print a merge patch that sets this DataStore's spec.credentials.encrypted
                        (and removes its secretRef), ready for:
                          kubectl patch datastore <name> --type merge --patch-file <file>
                        The gateway defaults to the DataStore's spec.gatewayRef; the fields are
                        checked against its type.

Examples:
  ferry encrypt --gateway demo --from-file pg.env
  printf 'username=ferry\\npassword=%s\\n' "$PW" | ferry encrypt --gateway demo
  ferry encrypt --datastore erp-sqlserver --from-file erp.json > patch.yaml && \\
    kubectl patch datastore erp-sqlserver --type merge --patch-file patch.yaml`;

async function readSources(literals: string[], files: string[], io: Io): Promise<CredentialSources> {
  const sources: CredentialSources = { literals, files: [] };
  const fromStdin = files.filter((f) => f === "-").length;
  if (fromStdin > 1) throw new UsageError("--from-file - (stdin) can be given once");
  for (const file of files) {
    if (file === "-") continue;
    try {
      sources.files.push({ name: file, text: await readFile(file, "utf8") });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code;
      throw new UsageError(`cannot read --from-file ${file}: ${why ?? "unreadable"}`);
    }
  }
  if (fromStdin === 1 || (literals.length === 0 && files.length === 0)) {
    if (io.stdinIsTTY && fromStdin === 0) {
      throw new UsageError(
        "no credentials given: use --from-literal <field>=<value>, --from-file <file>, or pipe them on stdin",
      );
    }
    sources.stdin = await io.readStdin();
  }
  return sources;
}

/** A JSON merge patch, as YAML: null removes secretRef, since a DataStore takes exactly one of the two. */
function datastorePatch(sealed: string): string {
  return `spec:\n  credentials:\n    secretRef: null\n    encrypted: ${sealed}\n`;
}

export const encrypt: Command = {
  name: "encrypt",
  summary: "seal DataStore credentials to a gateway's public key",
  help: HELP,
  async run(args: string[], session: Session): Promise<number> {
    const { values, positionals } = parseCommand(args, {
      gateway: { type: "string" },
      datastore: { type: "string" },
      "from-literal": { type: "string", multiple: true },
      "from-file": { type: "string", multiple: true },
    });
    if (helpRequested(values, this, session.io)) return EXIT_OK;
    if (positionals.length > 0) {
      // Not echoed: a stray argument here is often a credential typed without --from-literal.
      throw new UsageError(
        "encrypt takes no arguments; give credentials with --from-literal <field>=<value>, --from-file or stdin",
      );
    }
    if (values.gateway === undefined && values.datastore === undefined) {
      throw new UsageError("--gateway (or --datastore) is required");
    }
    if (values.gateway !== undefined) checkName("gateway", values.gateway);
    if (values.datastore !== undefined) checkName("datastore", values.datastore);
    const credentials = parseCredentials(
      await readSources(values["from-literal"] ?? [], values["from-file"] ?? [], session.io),
    );

    const { kube, namespace } = await session.connect(values);
    let name = values.gateway ?? "";
    if (values.datastore !== undefined) {
      const store = await getRequired(kube, "DataStore", namespace, values.datastore);
      const owner = store.spec.gatewayRef.name;
      if (values.gateway !== undefined && values.gateway !== owner) {
        throw new CliError(
          `DataStore "${values.datastore}" belongs to gateway "${owner}", not "${values.gateway}": ` +
            "credentials sealed to another gateway could never be opened by its nodes",
        );
      }
      name = owner;
      checkFieldsForType(credentials, store.spec.type, values.datastore);
    }
    const gateway = await getRequired(kube, "LogicalGateway", namespace, name);
    const publicKey = gateway.status?.publicKey;
    if (!publicKey) {
      throw new CliError(
        `LogicalGateway "${name}" has no public key yet (status.publicKey is empty): the operator has ` +
          "not reconciled it; check that the operator runs, then try again",
      );
    }
    let sealed: string;
    try {
      sealed = sealCredentials(publicKey, credentials);
    } catch (err) {
      // A bad key is the gateway's problem; too much input is the user's (the message says which).
      const message = (err as Error).message;
      if (message.includes("public key")) {
        throw new CliError(`LogicalGateway "${name}" has an unusable status.publicKey: ${message}`);
      }
      throw new UsageError(message);
    }
    if (values.datastore === undefined) {
      session.io.out(`${sealed}\n`);
    } else {
      session.io.out(datastorePatch(sealed));
      session.io.err(
        `# a merge patch for DataStore "${values.datastore}"; apply it with: ` +
          `kubectl patch datastore ${values.datastore} -n ${namespace} --type merge --patch-file <file>\n`,
      );
    }
    return EXIT_OK;
  },
};
